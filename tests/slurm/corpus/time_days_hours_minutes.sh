#!/bin/bash
#SBATCH -t 1-2:30
srun hostname
