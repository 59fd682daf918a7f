#!/bin/bash
#SBATCH -c 2
srun hostname
