#!/bin/bash
#SBATCH -G a100:2
srun hostname
