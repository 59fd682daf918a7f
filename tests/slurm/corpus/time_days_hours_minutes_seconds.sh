#!/bin/bash
#SBATCH -t 1-2:03:04
srun hostname
