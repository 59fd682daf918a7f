#!/bin/bash
#SBATCH -d afterok:1_*
srun hostname
