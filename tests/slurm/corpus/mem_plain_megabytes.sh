#!/bin/bash
#SBATCH --mem 1500
srun hostname
