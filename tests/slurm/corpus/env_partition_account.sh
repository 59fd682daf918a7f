#!/bin/bash
#SBATCH -p debug
srun hostname
