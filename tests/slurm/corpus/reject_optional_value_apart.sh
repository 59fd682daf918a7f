#!/bin/bash
#SBATCH --nice 5
srun hostname
