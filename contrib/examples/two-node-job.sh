#!/bin/bash
# A 2-node GridMint job, written exactly as for Slurm.
#SBATCH --job-name=demo-2node
#SBATCH --nodes=2
#SBATCH --gres=gpu:2
#SBATCH --time=5
#SBATCH --output=demo-%j.out

echo "job ${SLURM_JOB_ID} (${SLURM_JOB_NAME}) on ${SLURM_JOB_NODELIST}: ${SLURM_NNODES} nodes"
echo "batch host ${SLURMD_NODENAME}, GPUs here: ${CUDA_VISIBLE_DEVICES} (SLURM_JOB_GPUS=${SLURM_JOB_GPUS})"
echo "partition ${SLURM_JOB_PARTITION}, account ${SLURM_JOB_ACCOUNT}, submitted from ${SLURM_SUBMIT_HOST}:${SLURM_SUBMIT_DIR}"
# Some real work: hash 64 MiB of pseudo-random data.
start=$(date +%s.%N)
digest=$(head -c 67108864 /dev/urandom | sha256sum | cut -c1-16)
end=$(date +%s.%N)
echo "sha256 of 64 MiB: ${digest}... in $(echo "$end - $start" | bc 2>/dev/null || echo "?") s"
sleep 2
echo "done"
