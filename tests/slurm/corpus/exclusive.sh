#!/bin/bash
#SBATCH --exclusive
srun hostname
