#!/bin/bash
#SBATCH -N2
srun hostname
