// Initial parameters of the MLP.
#include "mlp.h"

#include "rng.h"

namespace ddp {

std::vector<float> InitialParameters(uint64_t seed) {
  std::vector<float> params(kOffsets.total, 0.0f);
  Rng rng(seed ^ 0x6d6c702d696e6974ULL);  // "mlp-init": a stream apart from the batch order's
  for (int l = 0; l < kNumLayers; ++l) {
    const float limit = std::sqrt(6.0f / kLayerWidths[l]);
    const int64_t n = int64_t{kLayerWidths[l]} * kLayerWidths[l + 1];
    for (int64_t i = 0; i < n; ++i) params[kOffsets.weights[l] + i] = limit * rng.UniformSymmetric();
  }
  return params;
}

}  // namespace ddp
