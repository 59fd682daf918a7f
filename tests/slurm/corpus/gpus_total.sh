#!/bin/bash
#SBATCH --gpus=3
srun hostname
