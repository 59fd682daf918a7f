#!/bin/bash
#SBATCH --cpus-per-task=4
#SBATCH --ntasks=1
srun hostname
