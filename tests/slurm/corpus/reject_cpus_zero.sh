#!/bin/bash
#SBATCH -c 0
srun hostname
