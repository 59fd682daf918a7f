#!/bin/bash
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=someone@example.org
srun hostname
