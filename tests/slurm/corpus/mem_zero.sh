#!/bin/bash
#SBATCH --mem=0
srun hostname
