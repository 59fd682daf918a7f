#!/bin/bash
#SBATCH -N 2 --gpus=3 --gpus-per-node=2
srun hostname
