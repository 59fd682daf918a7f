#!/bin/bash
#SBATCH --gpus-per-node=2
srun hostname
