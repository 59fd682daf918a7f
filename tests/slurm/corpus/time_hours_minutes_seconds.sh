#!/bin/bash
#SBATCH --time=1:02:03
srun hostname
