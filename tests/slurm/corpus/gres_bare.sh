#!/bin/bash
#SBATCH --gres=gpu
srun hostname
