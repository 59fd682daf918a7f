#!/bin/bash
#SBATCH --exclusive=bad
srun hostname
