#!/bin/bash
#SBATCH --exclusive=user
srun hostname
