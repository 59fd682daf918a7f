#!/bin/bash
#SBATCH --dependency=afterok:1:2,afterany:3
srun hostname
