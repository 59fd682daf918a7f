#!/bin/bash
#SBATCH -n 2   # two tasks
srun hostname
