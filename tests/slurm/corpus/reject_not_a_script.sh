echo no interpreter line
srun hostname
