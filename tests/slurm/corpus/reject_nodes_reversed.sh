#!/bin/bash
#SBATCH -N 2-1
srun hostname
