// The CPU backend: cpu_mlp's arithmetic, gradients summed with MPI_Allreduce.
#include <algorithm>
#include <cstring>

#include "backend.h"

namespace ddp {
namespace {

class CpuBackend final : public ComputeBackend {
 public:
  CpuBackend(const FashionMnist& data, const Comm& comm)
      : data_(data), comm_(comm), params_(kOffsets.total), velocity_(kOffsets.total), grads_(kOffsets.total) {}

  std::string Describe() const override { return "cpu"; }

  void SetState(const std::vector<float>& params, const std::vector<float>& velocity) override {
    params_ = params;
    velocity_ = velocity;
  }
  void GetState(std::vector<float>* params, std::vector<float>* velocity) override {
    *params = params_;
    *velocity = velocity_;
  }

  double TrainStep(const int32_t* shard, int n, int64_t global_batch, float lr, float momentum) override {
    constexpr int kIn = kLayerWidths[0];
    batch_x_.resize(static_cast<size_t>(n) * kIn);
    batch_y_.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      std::memcpy(&batch_x_[size_t(i) * kIn], &data_.train.pixels[size_t(shard[i]) * kIn], sizeof(float) * kIn);
      batch_y_[i] = data_.train.labels[shard[i]];
    }
    std::fill(grads_.begin(), grads_.end(), 0.0f);
    const double loss = n > 0 ? ForwardBackward(params_.data(), batch_x_.data(), batch_y_.data(), n, grads_.data(), &ws_)
                              : 0.0;
    comm_.AllreduceSum(grads_.data(), static_cast<int64_t>(grads_.size()));
    const float scale = 1.0f / static_cast<float>(global_batch);
    for (size_t i = 0; i < params_.size(); ++i) SgdMomentumStep(&params_[i], &velocity_[i], grads_[i], lr, momentum, scale);
    return loss;
  }

  EvalSums Evaluate(int64_t begin, int64_t end) override {
    return EvaluateCpu(params_.data(), data_.test.pixels.data() + begin * kLayerWidths[0],
                       data_.test.labels.data() + begin, end - begin, &ws_);
  }

 private:
  const FashionMnist& data_;
  const Comm& comm_;
  std::vector<float> params_, velocity_, grads_;
  std::vector<float> batch_x_;
  std::vector<int32_t> batch_y_;
  CpuWorkspace ws_;
};

}  // namespace

std::unique_ptr<ComputeBackend> MakeCpuBackend(const FashionMnist& data, const Comm& comm) {
  return std::make_unique<CpuBackend>(data, comm);
}

}  // namespace ddp
