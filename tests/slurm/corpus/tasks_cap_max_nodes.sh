#!/bin/bash
#SBATCH -N 1-2
#SBATCH -n 1
srun hostname
