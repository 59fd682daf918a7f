#!/bin/bash
#SBATCHX -N2
srun hostname
