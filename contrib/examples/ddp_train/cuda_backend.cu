// The GPU backend: the MLP on one CUDA device per rank (cuBLAS for the
// products, small kernels for the rest) and the gradients summed with
// ncclAllReduce. Where ranks of one node share a GPU (NCCL refuses a
// communicator with the same GPU twice), the gradients go through host memory
// and MPI_Allreduce instead, with a note. Arithmetic per example and per
// element comes from mlp.h, the same functions the CPU backend calls.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backend.h"
#include "gemm_mapping.h"
#include "mlp.h"

namespace ddp {
namespace {

constexpr int kThreads = 256;
constexpr int kEvalRows = 1024;

int Blocks(int64_t count) { return static_cast<int>(std::min<int64_t>((count + kThreads - 1) / kThreads, 4096)); }

std::string NcclError(const char* what, ncclResult_t r, ncclComm_t comm) {
  const char* detail = ncclGetLastError(comm);
  return std::string(what) + ": " + ncclGetErrorString(r) + (detail != nullptr && *detail ? std::string(": ") + detail : "");
}

std::string CudaError(const char* what, cudaError_t e) {
  return std::string(what) + ": " + cudaGetErrorString(e) + " (CUDA error " + std::to_string(int(e)) + ")";
}

// ---- kernels (grid-stride loops) ----

__global__ void GatherRows(const float* src, const int32_t* src_labels, const int32_t* idx, int n, int width,
                           float* dst, int32_t* dst_labels) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < int64_t(n) * width; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = e / width, col = e % width;
    dst[e] = src[int64_t(idx[row]) * width + col];
    if (col == 0) dst_labels[row] = src_labels[idx[row]];
  }
}

__global__ void AddBiasActivation(float* z, const float* bias, int n, int m, bool relu) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < int64_t(n) * m; e += int64_t(gridDim.x) * blockDim.x) {
    const float v = z[e] + bias[e % m];
    z[e] = relu ? (v > 0.0f ? v : 0.0f) : v;
  }
}

// One thread per example: loss, correct flag, and (when dlogits) the gradient.
__global__ void SoftmaxLoss(const float* logits, const int32_t* labels, int n, float* dlogits, float* loss,
                            int32_t* correct) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float* z = logits + int64_t(i) * kNumOutputs;
    loss[i] = SoftmaxCrossEntropy(z, kNumOutputs, labels[i], dlogits ? dlogits + int64_t(i) * kNumOutputs : nullptr);
    correct[i] = ArgMax(z, kNumOutputs) == labels[i] ? 1 : 0;
  }
}

__global__ void ReluBackward(float* d, const float* act, int64_t count) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < count; e += int64_t(gridDim.x) * blockDim.x) {
    d[e] = act[e] > 0.0f ? d[e] : 0.0f;
  }
}

// out[j] = sum over rows of d[:, j], rows in order (deterministic, no atomics).
__global__ void ColumnSum(const float* d, int n, int m, float* out) {
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < m; j += gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int i = 0; i < n; ++i) s += d[int64_t(i) * m + j];
    out[j] = s;
  }
}

__global__ void SgdMomentum(float* p, float* v, const float* g, int64_t count, float lr, float mu, float scale) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < count; e += int64_t(gridDim.x) * blockDim.x) {
    SgdMomentumStep(&p[e], &v[e], g[e], lr, mu, scale);
  }
}

// Device memory that frees itself.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  ~DeviceArray() { cudaFree(ptr_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  cudaError_t Resize(int64_t n) {
    if (n <= size_) return cudaSuccess;
    cudaFree(ptr_);
    ptr_ = nullptr;
    size_ = 0;
    const cudaError_t e = cudaMalloc(&ptr_, std::max<int64_t>(n, 1) * sizeof(T));
    if (e == cudaSuccess) size_ = n;
    return e;
  }
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  int64_t size_ = 0;
};

class CudaBackend final : public ComputeBackend {
 public:
  CudaBackend(const Comm& comm, int device, bool shared_gpu) : comm_(comm), device_(device), shared_gpu_(shared_gpu) {}

  ~CudaBackend() override {
    if (nccl_ != nullptr) ncclCommDestroy(nccl_);
    if (blas_ != nullptr) cublasDestroy(blas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // Per rank: handles, the data sets and the parameters in device memory.
  Status Init(const FashionMnist& data) {
    cudaDeviceProp prop{};
    if (auto e = cudaGetDeviceProperties(&prop, device_); e != cudaSuccess) return Fail("cudaGetDeviceProperties", e);
    name_ = prop.name;
    if (auto e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking); e != cudaSuccess) return Fail("cudaStreamCreate", e);
    if (cublasCreate(&blas_) != CUBLAS_STATUS_SUCCESS) return Status::Unavailable("cublasCreate failed");
    cublasSetStream(blas_, stream_);
    cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH);  // full FP32, no TF32: comparable with the CPU
    if (Status s = Upload(data.train, &train_x_, &train_y_); !s.ok()) return s;
    if (Status s = Upload(data.test, &test_x_, &test_y_); !s.ok()) return s;
    for (auto* a : {&params_, &velocity_, &grads_}) {
      if (auto e = a->Resize(kOffsets.total); e != cudaSuccess) return Fail("cudaMalloc", e);
    }
    if (auto e = ReserveRows(kEvalRows); e != cudaSuccess) return Fail("cudaMalloc (work buffers)", e);
    return Status::OK();
  }

  // Collective: the NCCL communicator over all ranks (unless GPUs are shared).
  Status Connect() {
    if (shared_gpu_) return Status::OK();
    ncclUniqueId id{};
    int ok = 1;
    if (comm_.rank() == 0) ok = ncclGetUniqueId(&id) == ncclSuccess ? 1 : 0;
    comm_.Broadcast(&ok, sizeof ok, 0);
    if (!ok) return Status::Unavailable("ncclGetUniqueId failed on rank 0");
    comm_.Broadcast(&id, sizeof id, 0);
    if (ncclResult_t r = ncclCommInitRank(&nccl_, comm_.size(), id, comm_.rank()); r != ncclSuccess) {
      nccl_ = nullptr;
      return Status::Unavailable(NcclError("ncclCommInitRank", r, nullptr));
    }
    return Status::OK();
  }

  std::string Describe() const override {
    int nccl_version = 0;
    ncclGetVersion(&nccl_version);
    return "cuda:" + std::to_string(device_) + " (" + name_ + "), " +
           (shared_gpu_ ? std::string("ranks share GPUs: gradients through MPI")
                        : "NCCL " + std::to_string(nccl_version / 10000) + "." + std::to_string(nccl_version / 100 % 100) +
                              "." + std::to_string(nccl_version % 100));
  }

  // Copies go through stream_ (a non-blocking stream does not wait for the
  // legacy default stream that plain cudaMemcpy uses) and end in a sync.
  void SetState(const std::vector<float>& params, const std::vector<float>& velocity) override {
    Check(CopyIn(params_.get(), params.data(), params.size()), "upload params");
    Check(CopyIn(velocity_.get(), velocity.data(), velocity.size()), "upload momentum");
    Check(cudaStreamSynchronize(stream_), "synchronise");
  }

  void GetState(std::vector<float>* params, std::vector<float>* velocity) override {
    params->resize(kOffsets.total);
    velocity->resize(kOffsets.total);
    Check(cudaMemcpyAsync(params->data(), params_.get(), params->size() * sizeof(float), cudaMemcpyDeviceToHost, stream_),
          "download params");
    Check(cudaMemcpyAsync(velocity->data(), velocity_.get(), velocity->size() * sizeof(float), cudaMemcpyDeviceToHost,
                          stream_),
          "download momentum");
    Check(cudaStreamSynchronize(stream_), "synchronise");
  }

  double TrainStep(const int32_t* shard, int n, int64_t global_batch, float lr, float momentum) override {
    double loss = 0;
    if (n > 0) {
      Check(ReserveRows(n), "cudaMalloc (batch buffers)");
      Check(CopyIn(idx_.get(), shard, size_t(n)), "upload batch indices");
      GatherRows<<<Blocks(int64_t(n) * kLayerWidths[0]), kThreads, 0, stream_>>>(train_x_.get(), train_y_.get(), idx_.get(), n,
                                                                               kLayerWidths[0], x_.get(), y_.get());
      Forward(x_.get(), n);
      SoftmaxLoss<<<Blocks(n), kThreads, 0, stream_>>>(act_[kNumLayers].get(), y_.get(), n, delta_[kNumLayers].get(),
                                                        loss_.get(), correct_.get());
      Backward(x_.get(), n);
      loss = SumLosses(n, nullptr);
    } else {
      Check(cudaMemsetAsync(grads_.get(), 0, kOffsets.total * sizeof(float), stream_), "zero gradients");
    }
    AllreduceGradients();
    SgdMomentum<<<Blocks(kOffsets.total), kThreads, 0, stream_>>>(params_.get(), velocity_.get(), grads_.get(), kOffsets.total,
                                                                 lr, momentum, 1.0f / float(global_batch));
    Check(cudaGetLastError(), "kernel launch");
    return loss;
  }

  EvalSums Evaluate(int64_t begin, int64_t end) override {
    EvalSums sums;
    for (int64_t row = begin; row < end; row += kEvalRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kEvalRows, end - row));
      Forward(test_x_.get() + row * kLayerWidths[0], rows);
      SoftmaxLoss<<<Blocks(rows), kThreads, 0, stream_>>>(act_[kNumLayers].get(), test_y_.get() + row, rows, nullptr,
                                                           loss_.get(), correct_.get());
      int64_t correct = 0;
      sums.loss_sum += SumLosses(rows, &correct);
      sums.correct += correct;
    }
    sums.count = end - begin;
    return sums;
  }

 private:
  static Status Fail(const char* what, cudaError_t e) { return Status::Unavailable(CudaError(what, e)); }

  // A CUDA failure in the middle of training: the other ranks would wait in
  // the next collective, so end the whole job.
  void Check(cudaError_t e, const char* what) const {
    if (e != cudaSuccess) comm_.Abort(CudaError(what, e));
  }

  template <typename T>
  cudaError_t CopyIn(T* dst, const T* src, size_t n) {
    return cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyHostToDevice, stream_);
  }

  Status Upload(const LabeledImages& set, DeviceArray<float>* x, DeviceArray<int32_t>* y) {
    if (auto e = x->Resize(int64_t(set.pixels.size())); e != cudaSuccess) return Fail("cudaMalloc (images)", e);
    if (auto e = y->Resize(int64_t(set.labels.size())); e != cudaSuccess) return Fail("cudaMalloc (labels)", e);
    if (auto e = CopyIn(x->get(), set.pixels.data(), set.pixels.size()); e != cudaSuccess) return Fail("upload images", e);
    if (auto e = CopyIn(y->get(), set.labels.data(), set.labels.size()); e != cudaSuccess) return Fail("upload labels", e);
    if (auto e = cudaStreamSynchronize(stream_); e != cudaSuccess) return Fail("upload", e);
    return Status::OK();
  }

  cudaError_t ReserveRows(int rows) {
    cudaError_t e = cudaSuccess;
    auto grow = [&](auto& a, int64_t n) { if (e == cudaSuccess) e = a.Resize(n); };
    grow(idx_, rows);
    grow(y_, rows);
    grow(x_, int64_t(rows) * kLayerWidths[0]);
    for (int l = 1; l <= kNumLayers; ++l) {
      grow(act_[l], int64_t(rows) * kLayerWidths[l]);
      grow(delta_[l], int64_t(rows) * kLayerWidths[l]);
    }
    grow(loss_, rows);
    grow(correct_, rows);
    if (e == cudaSuccess && host_loss_.size() < size_t(rows)) {
      host_loss_.resize(rows);
      host_correct_.resize(rows);
    }
    return e;
  }

  // Row-major C = op(A) * op(B) through column-major cuBLAS (see gemm_mapping.h).
  void Gemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, const float* B, float* C) {
    const ColumnMajorGemm g = RowMajorGemm(trans_a, trans_b, M, N, K);
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t s = cublasSgemm(blas_, g.trans_first ? CUBLAS_OP_T : CUBLAS_OP_N,
                                         g.trans_second ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &one, B, g.ld_first, A,
                                         g.ld_second, &zero, C, g.ldc);
    if (s != CUBLAS_STATUS_SUCCESS) comm_.Abort("cublasSgemm failed with status " + std::to_string(int(s)));
  }

  const float* W(int l) const { return params_.get() + kOffsets.weights[l]; }

  // act_[l+1] = act(act_[l] * W_l + b_l); act_[0] is `x`.
  void Forward(const float* x, int n) {
    const float* in = x;
    for (int l = 0; l < kNumLayers; ++l) {
      const int k = kLayerWidths[l], m = kLayerWidths[l + 1];
      Gemm(false, false, n, m, k, in, W(l), act_[l + 1].get());
      AddBiasActivation<<<Blocks(int64_t(n) * m), kThreads, 0, stream_>>>(act_[l + 1].get(), params_.get() + kOffsets.bias[l],
                                                                        n, m, l + 1 < kNumLayers);
      in = act_[l + 1].get();
    }
  }

  // Gradients of the loss summed over the n rows, from delta_[kNumLayers]
  // (set by SoftmaxLoss) down to the first layer; overwrites grads_.
  void Backward(const float* x, int n) {
    for (int l = kNumLayers - 1; l >= 0; --l) {
      const int k = kLayerWidths[l], m = kLayerWidths[l + 1];
      const float* in = l == 0 ? x : act_[l].get();
      Gemm(true, false, k, m, n, in, delta_[l + 1].get(), grads_.get() + kOffsets.weights[l]);  // in^T * delta
      ColumnSum<<<Blocks(m), kThreads, 0, stream_>>>(delta_[l + 1].get(), n, m, grads_.get() + kOffsets.bias[l]);
      if (l > 0) {
        Gemm(false, true, n, k, m, delta_[l + 1].get(), W(l), delta_[l].get());  // delta * W^T
        ReluBackward<<<Blocks(int64_t(n) * k), kThreads, 0, stream_>>>(delta_[l].get(), act_[l].get(), int64_t(n) * k);
      }
    }
  }

  // Sum of loss_[0..n) in double on the host, in order; also the correct count.
  double SumLosses(int n, int64_t* correct) {
    Check(cudaMemcpyAsync(host_loss_.data(), loss_.get(), n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "download losses");
    if (correct != nullptr) {
      Check(cudaMemcpyAsync(host_correct_.data(), correct_.get(), n * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_),
            "download predictions");
    }
    Check(cudaStreamSynchronize(stream_), "synchronise");
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += host_loss_[i];
    if (correct != nullptr) {
      for (int i = 0; i < n; ++i) *correct += host_correct_[i];
    }
    return sum;
  }

  void AllreduceGradients() {
    if (nccl_ != nullptr) {
      if (ncclResult_t r = ncclAllReduce(grads_.get(), grads_.get(), kOffsets.total, ncclFloat, ncclSum, nccl_, stream_);
          r != ncclSuccess) {
        comm_.Abort(NcclError("ncclAllReduce", r, nccl_));
      }
      return;
    }
    host_grads_.resize(kOffsets.total);
    Check(cudaMemcpyAsync(host_grads_.data(), grads_.get(), kOffsets.total * sizeof(float), cudaMemcpyDeviceToHost, stream_),
          "download gradients");
    Check(cudaStreamSynchronize(stream_), "synchronise");
    comm_.AllreduceSum(host_grads_.data(), kOffsets.total);
    Check(CopyIn(grads_.get(), host_grads_.data(), host_grads_.size()), "upload gradients");
  }

  const Comm& comm_;
  const int device_;
  const bool shared_gpu_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  ncclComm_t nccl_ = nullptr;
  DeviceArray<float> train_x_, test_x_, params_, velocity_, grads_, x_, loss_;
  DeviceArray<int32_t> train_y_, test_y_, idx_, y_, correct_;
  DeviceArray<float> act_[kNumLayers + 1], delta_[kNumLayers + 1];  // [0] unused: the input is x
  std::vector<float> host_loss_, host_grads_;
  std::vector<int32_t> host_correct_;
};

// This rank's GPU: the node-local rank's own when there are enough, shared
// round-robin otherwise. Returns -1 (and why) when none can be used.
int PickDevice(const Comm& comm, Status* why) {
  int count = 0;
  if (Status probe = ProbeCuda(); !probe.ok()) {
    *why = probe;
    return -1;
  }
  cudaGetDeviceCount(&count);
  const int device = comm.local_rank() % count;
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) {
    *why = Status::Unavailable(CudaError("cudaSetDevice", e));
    return -1;
  }
  if (cudaError_t e = cudaFree(nullptr); e != cudaSuccess) {  // creates the context now, errors included
    *why = Status::Unavailable(CudaError("creating a CUDA context", e));
    return -1;
  }
  return device;
}

}  // namespace

Status ProbeCuda() {
  int count = -1;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Unavailable("no usable CUDA device: " + CudaError("cudaGetDeviceCount", e));
  }
  if (count <= 0) return Status::Unavailable("no CUDA device is visible (CUDA_VISIBLE_DEVICES?)");
  return Status::OK();
}

Result<std::unique_ptr<ComputeBackend>> MakeCudaBackend(const FashionMnist& data, const Comm& comm) {
  Status status;
  const int device = PickDevice(comm, &status);
  // Ranks of one node on the same GPU (by PCI address, which also sees
  // through per-rank CUDA_VISIBLE_DEVICES): NCCL cannot use it twice.
  char bus_id[32] = {};
  if (device >= 0) cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, device);
  std::vector<char> all(sizeof bus_id * comm.local_size());
  MPI_Allgather(bus_id, sizeof bus_id, MPI_CHAR, all.data(), sizeof bus_id, MPI_CHAR, comm.local_handle());
  int duplicate = 0;
  for (int i = 0; i < comm.local_size(); ++i) {
    if (i != comm.local_rank() && bus_id[0] != '\0' && std::strncmp(bus_id, &all[i * sizeof bus_id], sizeof bus_id) == 0) {
      duplicate = 1;
    }
  }
  const bool shared = comm.AllreduceMax(duplicate) != 0;
  auto backend = std::make_unique<CudaBackend>(comm, device, shared);
  if (status.ok()) status = backend->Init(data);
  if (comm.AnyFailed(status, "--device cuda: ")) return Status::Unavailable("reported");
  if (shared && comm.rank() == 0) {
    std::printf("ddp_train: note: ranks share a GPU, which NCCL does not allow; gradients are summed with MPI\n");
  }
  status = backend->Connect();
  if (comm.AnyFailed(status, "--device cuda: ")) return Status::Unavailable("reported");
  return std::unique_ptr<ComputeBackend>(std::move(backend));
}

}  // namespace ddp
