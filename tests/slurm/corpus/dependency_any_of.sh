#!/bin/bash
#SBATCH -d 'afterok:1?afternotok:2'
srun hostname
