#!/bin/bash
# a comment

#SBATCH -N 2
# another

#SBATCH -t 10
srun hostname
