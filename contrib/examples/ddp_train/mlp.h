// The model: a multi-layer perceptron classifier 784-256-128-10 with ReLU
// between layers and softmax cross-entropy at the end, trained by SGD with
// momentum. This header holds what the CPU and the CUDA code share: the
// parameter layout, the initialisation, and the per-example and per-element
// arithmetic (host-and-device functions, so both backends compute the same
// formulas).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__CUDACC__)
#define DDP_HD __host__ __device__
#else
#define DDP_HD
#endif

namespace ddp {

inline constexpr int kNumLayers = 3;
// Widths of the layers' inputs and outputs: 784 -> 256 -> 128 -> 10.
inline constexpr int kLayerWidths[kNumLayers + 1] = {784, 256, 128, 10};

// One flat float vector holds every parameter, layer after layer: W_l as a
// row-major [in x out] matrix, then b_l [out]. Gradients, momentum and the
// all-reduce use the same layout, so one collective moves everything.
struct LayerOffsets {
  int64_t weights[kNumLayers];
  int64_t bias[kNumLayers];
  int64_t total;
};

constexpr LayerOffsets ComputeLayerOffsets() {
  LayerOffsets o{};
  int64_t at = 0;
  for (int l = 0; l < kNumLayers; ++l) {
    o.weights[l] = at;
    at += int64_t{kLayerWidths[l]} * kLayerWidths[l + 1];
    o.bias[l] = at;
    at += kLayerWidths[l + 1];
  }
  o.total = at;
  return o;
}
inline constexpr LayerOffsets kOffsets = ComputeLayerOffsets();

inline constexpr int kNumOutputs = kLayerWidths[kNumLayers];  // classes

// He-uniform weights (limit sqrt(6 / fan_in)), zero biases, from `seed` alone:
// every rank computes the same vector.
std::vector<float> InitialParameters(uint64_t seed);

// Softmax cross-entropy of one example: returns -log p[label] and writes
// dlogits = p - onehot(label), the gradient of the loss with respect to the
// logits. Max-subtracted, so large logits do not overflow.
DDP_HD inline float SoftmaxCrossEntropy(const float* logits, int classes, int label, float* dlogits) {
  float max = logits[0];
  for (int c = 1; c < classes; ++c) max = logits[c] > max ? logits[c] : max;
  float sum = 0.0f;
  for (int c = 0; c < classes; ++c) sum += expf(logits[c] - max);
  const float log_sum = logf(sum);
  if (dlogits != nullptr) {
    for (int c = 0; c < classes; ++c) dlogits[c] = expf(logits[c] - max - log_sum) - (c == label ? 1.0f : 0.0f);
  }
  return (max - logits[label]) + log_sum;  // this order keeps the small part when logits are large
}

// Index of the largest logit (the first one on ties).
DDP_HD inline int ArgMax(const float* logits, int classes) {
  int best = 0;
  for (int c = 1; c < classes; ++c) best = logits[c] > logits[best] ? c : best;
  return best;
}

// SGD with momentum (PyTorch's form): v = mu*v + g*scale; p -= lr*v.
// `scale` is 1/global_batch: gradients arrive summed over the global batch.
DDP_HD inline void SgdMomentumStep(float* p, float* v, float g, float lr, float mu, float scale) {
  *v = mu * *v + g * scale;
  *p -= lr * *v;
}

}  // namespace ddp
