#!/bin/bash
#SBATCH -N 2 -n 3 --ntasks-per-node=2
srun hostname
