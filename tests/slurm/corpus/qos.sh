#!/bin/bash
#SBATCH --qos=normal
srun hostname
