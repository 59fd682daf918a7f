#!/bin/bash
#SBATCH -a 1,3,5-6
srun hostname
