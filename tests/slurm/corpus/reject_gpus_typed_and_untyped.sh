#!/bin/bash
#SBATCH --gpus=a100:2 --gpus-per-task=1
srun hostname
