#!/bin/bash
#SBATCH -N 1-2
#SBATCH --ntasks-per-node=2
srun hostname
