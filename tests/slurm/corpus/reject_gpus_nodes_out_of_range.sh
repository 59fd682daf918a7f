#!/bin/bash
#SBATCH -N 1 --gpus=2 --gpus-per-node=1
srun hostname
