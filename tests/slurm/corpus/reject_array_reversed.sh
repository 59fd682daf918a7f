#!/bin/bash
#SBATCH --array=5-1
srun hostname
