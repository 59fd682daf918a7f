// The data-parallel training loop: every rank walks the same global batch
// order, takes its slice of each global batch, and the backend sums the
// gradients over the ranks; rank 0 evaluates nothing alone (the test set is
// split too), prints, and writes the checkpoint after every epoch.
#pragma once

#include <cstdint>
#include <utility>

#include "backend.h"
#include "checkpoint.h"
#include "options.h"

namespace ddp {

// The slice [first, first + count) of a batch of `batch` examples that `rank`
// of `ranks` takes: sizes differ by at most one, lower ranks get the extra.
std::pair<int64_t, int64_t> ShardOf(int64_t batch, int rank, int ranks);

// The state a run starts from when there is no checkpoint.
TrainState FreshState(const TrainOptions& o, int64_t train_count);

// Fails when `ckpt` belongs to a run with another seed, batch or data size.
Status CheckResumable(const TrainState& ckpt, const TrainOptions& o, int64_t train_count, const std::string& path);

struct RunSummary {
  int epochs_trained = 0;
  double train_seconds = 0;
  int64_t images_trained = 0;
  EvalSums test;
};

// Trains from `state` up to o.epochs, checkpointing into `checkpoint_dir`
// after each epoch (rank 0). `state` holds the final state on return.
Result<RunSummary> Train(const TrainOptions& o, const std::string& checkpoint_dir, const Comm& comm,
                         const FashionMnist& data, ComputeBackend* backend, TrainState* state);

// Test-set loss and accuracy over all ranks (each evaluates its slice).
EvalSums EvaluateTestSet(const Comm& comm, const FashionMnist& data, ComputeBackend* backend);

}  // namespace ddp
