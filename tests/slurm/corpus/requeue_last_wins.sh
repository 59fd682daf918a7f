#!/bin/bash
#SBATCH --no-requeue
srun hostname
