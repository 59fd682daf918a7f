#!/bin/bash
#SBATCH --array=1-2
srun hostname
