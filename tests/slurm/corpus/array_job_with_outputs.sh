#!/bin/bash
#SBATCH --array=0-3%2
#SBATCH -o run-%A_%a.out
#SBATCH -t 30
srun hostname
