#!/bin/bash
#SBATCH --gres=gpu:a:1:2
srun hostname
