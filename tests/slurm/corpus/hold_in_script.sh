#!/bin/bash
#SBATCH -H
srun hostname
