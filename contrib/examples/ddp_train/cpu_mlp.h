// The MLP's forward and backward passes on the CPU, single-threaded (one
// rank per core is the data-parallel layout). Free functions over the flat
// parameter vector of mlp.h, so the unit test can check the gradient against
// finite differences without MPI.
#pragma once

#include <cstdint>
#include <vector>

#include "mlp.h"

namespace ddp {

// Scratch buffers for up to `capacity` examples; grows on demand.
struct CpuWorkspace {
  std::vector<float> act[kNumLayers + 1];  // act[0] = input, act[l] = output of layer l
  std::vector<float> delta[kNumLayers + 1];
  std::vector<float> transposed;           // W_l^T for the backward pass
  void Reserve(int n);
};

// Forward pass over n examples (rows of x, 784 floats each): fills ws->act.
// Returns pointer to the [n x 10] logits.
const float* Forward(const float* params, const float* x, int n, CpuWorkspace* ws);

// Adds the gradient of sum_i loss_i over the n examples to `grads` (zeroed
// by the caller) and returns sum_i loss_i (in double).
double ForwardBackward(const float* params, const float* x, const int32_t* labels, int n, float* grads,
                       CpuWorkspace* ws);

struct EvalSums {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t count = 0;
};

// Loss and correct predictions over n examples, in chunks of 256.
EvalSums EvaluateCpu(const float* params, const float* x, const int32_t* labels, int64_t n, CpuWorkspace* ws);

}  // namespace ddp
