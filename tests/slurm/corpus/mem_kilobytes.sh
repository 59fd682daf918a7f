#!/bin/bash
#SBATCH --mem=3072K
srun hostname
