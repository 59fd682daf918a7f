#!/bin/bash
#SBATCH --constraint="a100|intel"
srun hostname
