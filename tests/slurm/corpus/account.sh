#!/bin/bash
#SBATCH -A proj42
srun hostname
