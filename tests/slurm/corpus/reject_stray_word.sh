#!/bin/bash
#SBATCH -N 2 extra
srun hostname
