#!/bin/bash
#SBATCH :foo
srun hostname
