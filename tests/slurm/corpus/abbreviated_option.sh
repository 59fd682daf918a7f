#!/bin/bash
#SBATCH --part=gpu
srun hostname
