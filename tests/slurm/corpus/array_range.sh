#!/bin/bash
#SBATCH --array=0-15
srun hostname
