#!/bin/bash
#SBATCH -d foo:1
srun hostname
