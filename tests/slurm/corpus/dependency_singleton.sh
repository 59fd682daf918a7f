#!/bin/bash
#SBATCH -d singleton
srun hostname
