#!/bin/bash
#SBATCH --output=/tmp/gm-%u-%j.log
srun hostname
