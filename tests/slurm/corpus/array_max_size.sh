#!/bin/bash
#SBATCH --array=0-1000
srun hostname
