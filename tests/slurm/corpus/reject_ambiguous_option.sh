#!/bin/bash
#SBATCH --cpus=2
srun hostname
