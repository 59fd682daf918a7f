#!/bin/bash
#SBATCH -d after:1+5
srun hostname
