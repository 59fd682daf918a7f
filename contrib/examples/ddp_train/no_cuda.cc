// Built instead of cuda_backend.cu when CUDA or NCCL was not found.
#include "backend.h"

namespace ddp {

Status ProbeCuda() {
  return Status::Unavailable("this ddp_train was built without its CUDA path (CUDA or NCCL not found at configure time, or DDP_TRAIN_CUDA=OFF)");
}

Result<std::unique_ptr<ComputeBackend>> MakeCudaBackend(const FashionMnist&, const Comm& comm) {
  comm.AnyFailed(ProbeCuda(), "--device cuda: ");
  return ProbeCuda();
}

}  // namespace ddp
