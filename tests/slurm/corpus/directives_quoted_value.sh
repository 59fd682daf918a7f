#!/bin/bash
#SBATCH --job-name="my job" -o 'o u t.%j'
srun hostname
