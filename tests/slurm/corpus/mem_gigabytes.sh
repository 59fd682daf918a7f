#!/bin/bash
#SBATCH --mem=2G
srun hostname
