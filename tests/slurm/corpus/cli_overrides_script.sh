#!/bin/bash
#SBATCH -t 10 -J script
srun hostname
