#!/bin/bash
#SBATCH -o out-%j-%x.txt
#SBATCH -e err-%j.txt
srun hostname
