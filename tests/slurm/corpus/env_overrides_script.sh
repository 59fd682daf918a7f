#!/bin/bash
#SBATCH -t 10
srun hostname
