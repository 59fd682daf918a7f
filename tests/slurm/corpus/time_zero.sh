#!/bin/bash
#SBATCH -t 0
srun hostname
