#!/bin/bash
#SBATCH --export=ALL,FOO=bar
srun hostname
