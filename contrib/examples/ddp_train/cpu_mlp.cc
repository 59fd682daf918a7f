// CPU arithmetic of the MLP. The two big products (layer outputs and weight
// gradients) run as 4 x 16 register blocks on GCC vector types, compiled for
// AVX2 and for baseline x86-64 and picked at run time (target_clones), so one
// binary runs on any provider's CPU. Never -ffast-math: every output element
// sums its terms in a fixed order, the same in every clone and block shape,
// so results are bit-identical across CPUs and only the ranks' split of the
// batch changes the rounding. Zero inputs (background pixels, inactive ReLUs)
// are skipped in the unblocked loops.
#include "cpu_mlp.h"

#include <algorithm>
#include <cstring>

namespace ddp {
namespace {

#define DDP_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))

// Register blocks of the AVX2 path: kRows examples (or weight rows) by kCols
// outputs accumulate in registers over the whole reduction, then are stored.
constexpr int kRows = 4;
constexpr int kCols = 16;
// GCC/Clang vector type: 8 floats, one AVX register; + and * are plain IEEE
// operations. Used only inside target("avx2") functions, and moved with
// memcpy, never passed by value.
typedef float Vec8 __attribute__((vector_size(32)));
constexpr int kVecs = kCols / 8;

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

// Rows [first, n) of out[n x m] = act(in[n x k] * W[k x m] + b): plain loops.
DDP_VECTOR_CLONES void ForwardRows(const float* in, int first, int n, int k, const float* w, const float* b, int m,
                                   bool relu, float* out) {
  for (int i = first; i < n; ++i) {
    float* o = out + int64_t{i} * m;
    std::memcpy(o, b, sizeof(float) * m);
    const float* x = in + int64_t{i} * k;
    for (int p = 0; p < k; ++p) {
      const float a = x[p];
      if (a == 0.0f) continue;
      const float* wr = w + int64_t{p} * m;
      for (int j = 0; j < m; ++j) o[j] += a * wr[j];
    }
    if (relu) {
      for (int j = 0; j < m; ++j) o[j] = o[j] > 0.0f ? o[j] : 0.0f;
    }
  }
}

// The same in 4 x 16 blocks; returns how many leading rows it computed.
// Each element sums in ascending p like ForwardRows: the same bits.
__attribute__((target("avx2"))) int ForwardBlockedAvx2(const float* in, int n, int k, const float* w, const float* b,
                                                       int m, bool relu, float* out) {
  if (m % kCols != 0) return 0;
  const int blocked = n - n % kRows;
  for (int i = 0; i < blocked; i += kRows) {
    const float* x = in + int64_t{i} * k;
    for (int j0 = 0; j0 < m; j0 += kCols) {
      Vec8 acc[kRows][kVecs];
      for (int r = 0; r < kRows; ++r)
        for (int v = 0; v < kVecs; ++v) std::memcpy(&acc[r][v], b + j0 + 8 * v, sizeof(Vec8));
      for (int p = 0; p < k; ++p) {
        Vec8 wv[kVecs];
        for (int v = 0; v < kVecs; ++v) std::memcpy(&wv[v], w + int64_t{p} * m + j0 + 8 * v, sizeof(Vec8));
        for (int r = 0; r < kRows; ++r) {
          const float a = x[int64_t{r} * k + p];
          for (int v = 0; v < kVecs; ++v) acc[r][v] += a * wv[v];
        }
      }
      for (int r = 0; r < kRows; ++r) {
        if (relu) {
          for (int v = 0; v < kVecs; ++v) acc[r][v] = acc[r][v] > 0.0f ? acc[r][v] : Vec8{};
        }
        for (int v = 0; v < kVecs; ++v) std::memcpy(out + int64_t{i + r} * m + j0 + 8 * v, &acc[r][v], sizeof(Vec8));
      }
    }
  }
  return blocked;
}

// out[n x m] = act(in[n x k] * W[k x m] + b)
void LayerForward(const float* in, int n, int k, const float* w, const float* b, int m, bool relu, float* out) {
  const int done = HasAvx2() ? ForwardBlockedAvx2(in, n, k, w, b, m, relu, out) : 0;
  ForwardRows(in, done, n, k, w, b, m, relu, out);
}

// Weight rows [first_p, k) of gw[k x m] += in^T * d, and gb[m] += column sums of d.
DDP_VECTOR_CLONES void WeightGradRows(const float* in, int n, int k, int first_p, const float* d, int m, float* gw,
                                      float* gb) {
  for (int i = 0; i < n; ++i) {
    const float* x = in + int64_t{i} * k;
    const float* dr = d + int64_t{i} * m;
    for (int p = first_p; p < k; ++p) {
      const float a = x[p];
      if (a == 0.0f) continue;
      float* g = gw + int64_t{p} * m;
      for (int j = 0; j < m; ++j) g[j] += a * dr[j];
    }
    for (int j = 0; j < m; ++j) gb[j] += dr[j];
  }
}

// Leading weight rows of gw += in^T * d in 4 x 16 blocks; returns how many.
// Each element sums in ascending example order like WeightGradRows.
__attribute__((target("avx2"))) int WeightGradBlockedAvx2(const float* in, int n, int k, const float* d, int m,
                                                          float* gw) {
  if (m % kCols != 0) return 0;
  const int blocked = k - k % kRows;
  for (int p0 = 0; p0 < blocked; p0 += kRows) {
    for (int j0 = 0; j0 < m; j0 += kCols) {
      Vec8 acc[kRows][kVecs];
      for (int r = 0; r < kRows; ++r)
        for (int v = 0; v < kVecs; ++v) std::memcpy(&acc[r][v], gw + int64_t{p0 + r} * m + j0 + 8 * v, sizeof(Vec8));
      for (int i = 0; i < n; ++i) {
        const float* x = in + int64_t{i} * k + p0;
        Vec8 dv[kVecs];
        for (int v = 0; v < kVecs; ++v) std::memcpy(&dv[v], d + int64_t{i} * m + j0 + 8 * v, sizeof(Vec8));
        for (int r = 0; r < kRows; ++r) {
          const float a = x[r];
          for (int v = 0; v < kVecs; ++v) acc[r][v] += a * dv[v];
        }
      }
      for (int r = 0; r < kRows; ++r)
        for (int v = 0; v < kVecs; ++v) std::memcpy(gw + int64_t{p0 + r} * m + j0 + 8 * v, &acc[r][v], sizeof(Vec8));
    }
  }
  return blocked;
}

// gw[k x m] += in^T * d, gb[m] += sum of rows of d
void LayerWeightGrad(const float* in, int n, int k, const float* d, int m, float* gw, float* gb) {
  const int done = HasAvx2() ? WeightGradBlockedAvx2(in, n, k, d, m, gw) : 0;
  WeightGradRows(in, n, k, done, d, m, gw, gb);
}

// din[n x k] = (d[n x m] * W^T) masked by act_in > 0 (the ReLU of the layer below)
DDP_VECTOR_CLONES void LayerInputGrad(const float* d, int n, int m, const float* w, int k, const float* act_in, float* wt, float* din) {
  for (int p = 0; p < k; ++p)
    for (int j = 0; j < m; ++j) wt[int64_t{j} * k + p] = w[int64_t{p} * m + j];
  for (int i = 0; i < n; ++i) {
    float* o = din + int64_t{i} * k;
    std::fill(o, o + k, 0.0f);
    const float* dr = d + int64_t{i} * m;
    for (int j = 0; j < m; ++j) {
      const float g = dr[j];
      if (g == 0.0f) continue;
      const float* t = wt + int64_t{j} * k;
      for (int p = 0; p < k; ++p) o[p] += g * t[p];
    }
    const float* a = act_in + int64_t{i} * k;
    for (int p = 0; p < k; ++p) o[p] = a[p] > 0.0f ? o[p] : 0.0f;
  }
}

}  // namespace

void CpuWorkspace::Reserve(int n) {
  for (int l = 1; l <= kNumLayers; ++l) {
    const size_t size = static_cast<size_t>(n) * kLayerWidths[l];
    if (act[l].size() < size) act[l].resize(size);
    if (delta[l].size() < size) delta[l].resize(size);
  }
  size_t largest = 0;
  for (int l = 1; l < kNumLayers; ++l) largest = std::max<size_t>(largest, size_t{1} * kLayerWidths[l] * kLayerWidths[l + 1]);
  if (transposed.size() < largest) transposed.resize(largest);
}

const float* Forward(const float* params, const float* x, int n, CpuWorkspace* ws) {
  ws->Reserve(n);
  const float* in = x;
  for (int l = 0; l < kNumLayers; ++l) {
    LayerForward(in, n, kLayerWidths[l], params + kOffsets.weights[l], params + kOffsets.bias[l], kLayerWidths[l + 1],
                 /*relu=*/l + 1 < kNumLayers, ws->act[l + 1].data());
    in = ws->act[l + 1].data();
  }
  return in;
}

double ForwardBackward(const float* params, const float* x, const int32_t* labels, int n, float* grads,
                       CpuWorkspace* ws) {
  const float* logits = Forward(params, x, n, ws);
  double loss = 0;
  float* d = ws->delta[kNumLayers].data();
  for (int i = 0; i < n; ++i) {
    loss += SoftmaxCrossEntropy(logits + int64_t{i} * kNumOutputs, kNumOutputs, labels[i],
                                d + int64_t{i} * kNumOutputs);
  }
  for (int l = kNumLayers - 1; l >= 0; --l) {
    const int k = kLayerWidths[l], m = kLayerWidths[l + 1];
    const float* in = l == 0 ? x : ws->act[l].data();
    LayerWeightGrad(in, n, k, ws->delta[l + 1].data(), m, grads + kOffsets.weights[l], grads + kOffsets.bias[l]);
    if (l > 0) {
      LayerInputGrad(ws->delta[l + 1].data(), n, m, params + kOffsets.weights[l], k, ws->act[l].data(),
                     ws->transposed.data(), ws->delta[l].data());
    }
  }
  return loss;
}

EvalSums EvaluateCpu(const float* params, const float* x, const int32_t* labels, int64_t n, CpuWorkspace* ws) {
  constexpr int kChunk = 256;
  const int classes = kNumOutputs;
  EvalSums sums;
  for (int64_t start = 0; start < n; start += kChunk) {
    const int rows = static_cast<int>(std::min<int64_t>(kChunk, n - start));
    const float* logits = Forward(params, x + start * kLayerWidths[0], rows, ws);
    for (int i = 0; i < rows; ++i) {
      const float* z = logits + int64_t{i} * classes;
      sums.loss_sum += SoftmaxCrossEntropy(z, classes, labels[start + i], nullptr);
      sums.correct += ArgMax(z, classes) == labels[start + i] ? 1 : 0;
    }
  }
  sums.count = n;
  return sums;
}

}  // namespace ddp
