// Where the arithmetic of a training step runs, and how the gradients of the
// ranks are summed: on the CPU with MPI_Allreduce, or on a GPU with NCCL.
// The trainer drives either through this interface.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm.h"
#include "cpu_mlp.h"
#include "idx_reader.h"

namespace ddp {

class ComputeBackend {
 public:
  virtual ~ComputeBackend() = default;
  // "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3), NCCL 2.28.9"
  virtual std::string Describe() const = 0;
  virtual void SetState(const std::vector<float>& params, const std::vector<float>& velocity) = 0;
  virtual void GetState(std::vector<float>* params, std::vector<float>* velocity) = 0;
  // One data-parallel SGD step. This rank holds `n` examples of the global
  // batch (indices into the training set; n may be 0). The gradient summed
  // over the shard is summed over all ranks, scaled by 1/global_batch and
  // applied with momentum, so every rank ends with the same parameters.
  // Collective: every rank calls it once per step. Returns this rank's loss sum.
  virtual double TrainStep(const int32_t* shard, int n, int64_t global_batch, float lr, float momentum) = 0;
  // Loss and correct predictions over test examples [begin, end), this rank only.
  virtual EvalSums Evaluate(int64_t begin, int64_t end) = 0;
};

std::unique_ptr<ComputeBackend> MakeCpuBackend(const FashionMnist& data, const Comm& comm);

// CUDA + NCCL (cuda_backend.cu; a stub saying it is not built otherwise).
// ProbeCuda: is there a GPU this rank can use? MakeCudaBackend is collective
// and prints its own errors (once per job): on failure every rank gets an
// error status whose message has already been shown.
Status ProbeCuda();
Result<std::unique_ptr<ComputeBackend>> MakeCudaBackend(const FashionMnist& data, const Comm& comm);

}  // namespace ddp
