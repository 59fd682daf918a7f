#!/bin/bash
#SBATCH --gres=gpu:2
srun hostname
