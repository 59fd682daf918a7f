#!/bin/bash
#SBATCH --mem-per-cpu=500M
srun hostname
