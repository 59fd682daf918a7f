#!/bin/bash
#SBATCH --chdir=sub
srun hostname
