#!/bin/bash
#SBATCH --gres=gpu:a100:2
srun hostname
