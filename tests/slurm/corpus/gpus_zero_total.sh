#!/bin/bash
#SBATCH --gpus=0 --gpus-per-node=2
srun hostname
