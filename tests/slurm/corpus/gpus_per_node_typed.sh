#!/bin/bash
#SBATCH --gpus-per-node=v100:1
srun hostname
