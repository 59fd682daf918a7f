#!/bin/bash
#SBATCH --ntasks 3
srun hostname
