#!/bin/bash
#SBATCH --mem=2X
srun hostname
