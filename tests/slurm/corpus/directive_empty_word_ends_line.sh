#!/bin/bash
#SBATCH -N 2 '' -n 3
srun hostname
