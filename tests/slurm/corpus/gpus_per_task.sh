#!/bin/bash
#SBATCH -n 2
#SBATCH --gpus-per-task=1
srun hostname
