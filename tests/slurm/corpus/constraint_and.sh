#!/bin/bash
#SBATCH -C 'a100&ib'
srun hostname
