#!/bin/bash
#SBATCH --array=1001
srun hostname
