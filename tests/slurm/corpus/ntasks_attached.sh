#!/bin/bash
#SBATCH -n4
srun hostname
