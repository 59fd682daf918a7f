#!/bin/bash
#SBATCH -t 2-3
srun hostname
