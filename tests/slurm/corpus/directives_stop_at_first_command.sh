#!/bin/bash
#SBATCH -N 2
echo start
#SBATCH -p nosuch
srun hostname
