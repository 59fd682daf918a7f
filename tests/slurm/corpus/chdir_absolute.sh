#!/bin/bash
#SBATCH -D /tmp
srun hostname
