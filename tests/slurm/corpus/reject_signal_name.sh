#!/bin/bash
#SBATCH --signal=FOO
srun hostname
