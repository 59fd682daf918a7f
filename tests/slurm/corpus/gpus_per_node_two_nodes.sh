#!/bin/bash
#SBATCH -N 2
#SBATCH --gpus-per-node=a100:4
srun hostname
