#!/bin/bash
#SBATCH --begin=garbage
srun hostname
