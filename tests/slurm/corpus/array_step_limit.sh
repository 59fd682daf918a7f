#!/bin/bash
#SBATCH --array=1-7:2%2
srun hostname
