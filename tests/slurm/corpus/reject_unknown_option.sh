#!/bin/bash
#SBATCH --frobnicate
srun hostname
