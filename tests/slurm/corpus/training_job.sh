#!/bin/bash
#SBATCH --job-name=train
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=1
#SBATCH --gres=gpu:2
#SBATCH --mem=1G
#SBATCH --time=2:00:00
#SBATCH --output=logs-%x-%j.out
#SBATCH --partition=gpu
srun python train.py
