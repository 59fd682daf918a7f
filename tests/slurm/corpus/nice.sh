#!/bin/bash
#SBATCH --nice=10
srun hostname
