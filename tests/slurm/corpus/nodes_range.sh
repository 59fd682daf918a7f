#!/bin/bash
#SBATCH --nodes=1-2
srun hostname
