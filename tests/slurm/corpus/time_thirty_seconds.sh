#!/bin/bash
#SBATCH -t 0:30
srun hostname
