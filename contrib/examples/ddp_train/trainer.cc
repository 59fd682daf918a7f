// The training loop of ddp_train.
#include "trainer.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include <zlib.h>

namespace ddp {

std::pair<int64_t, int64_t> ShardOf(int64_t batch, int rank, int ranks) {
  const int64_t base = batch / ranks, extra = batch % ranks;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

TrainState FreshState(const TrainOptions& o, int64_t train_count) {
  TrainState s;
  s.seed = o.seed;
  s.global_batch = o.global_batch;
  s.train_count = train_count;
  s.order_rng = Rng(o.seed).state();
  s.params = InitialParameters(o.seed);
  s.velocity.assign(s.params.size(), 0.0f);
  return s;
}

Status CheckResumable(const TrainState& c, const TrainOptions& o, int64_t train_count, const std::string& path) {
  if (c.seed == o.seed && c.global_batch == o.global_batch && c.train_count == train_count) return Status::OK();
  return Status::InvalidArgument(
      "checkpoint " + path + " belongs to another run (--seed " + std::to_string(c.seed) + " --batch " +
      std::to_string(c.global_batch) + ", " + std::to_string(c.train_count) + " training images); this run has --seed " +
      std::to_string(o.seed) + " --batch " + std::to_string(o.global_batch) + ", " + std::to_string(train_count) +
      " training images. Resume with the same flags, or pass another --checkpoint-dir");
}

EvalSums EvaluateTestSet(const Comm& comm, const FashionMnist& data, ComputeBackend* backend) {
  const auto [first, count] = ShardOf(data.test.count, comm.rank(), comm.size());
  EvalSums local = backend->Evaluate(first, first + count);
  double loss = local.loss_sum;
  int64_t counts[2] = {local.correct, local.count};
  comm.AllreduceSum(&loss, 1);
  comm.AllreduceSum(counts, 2);
  return EvalSums{loss, counts[0], counts[1]};
}

namespace {

// One pass over the training set in the order drawn from state->order_rng.
// Returns the mean training loss over the epoch.
double TrainEpoch(const TrainOptions& o, const Comm& comm, ComputeBackend* backend, TrainState* state) {
  Rng rng = Rng::FromState(state->order_rng);
  std::vector<int32_t> order(static_cast<size_t>(state->train_count));
  std::iota(order.begin(), order.end(), 0);
  rng.Shuffle(&order);
  double loss = 0;
  for (int64_t start = 0; start < state->train_count; start += o.global_batch) {
    const int64_t batch = std::min<int64_t>(o.global_batch, state->train_count - start);
    const auto [first, count] = ShardOf(batch, comm.rank(), comm.size());
    loss += backend->TrainStep(order.data() + start + first, static_cast<int>(count), batch, o.learning_rate,
                               o.momentum);
    ++state->steps;
  }
  comm.AllreduceSum(&loss, 1);
  state->order_rng = rng.state();
  return loss / static_cast<double>(state->train_count);
}

// Every rank applies the same summed gradient to the same parameters, so the
// parameters must stay identical. Checked once per epoch by a checksum; if a
// rank has drifted (a heterogeneous node, a broken MPI), rank 0's copy is
// broadcast to all, with a warning, rather than training divergent models.
void CheckRanksAgree(int epoch, const Comm& comm, ComputeBackend* backend, TrainState* state) {
  if (comm.size() == 1) return;
  backend->GetState(&state->params, &state->velocity);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(state->params.data()), uInt(state->params.size() * sizeof(float)));
  crc = crc32(crc, reinterpret_cast<const Bytef*>(state->velocity.data()), uInt(state->velocity.size() * sizeof(float)));
  const int mine = static_cast<int>(crc & 0x7fffffff);
  if (comm.AllreduceMin(mine) == comm.AllreduceMax(mine)) return;
  if (comm.rank() == 0) {
    std::printf("ddp_train: warning: parameters differ between ranks after epoch %d; resynchronising from rank 0\n",
                epoch);
  }
  comm.Broadcast(state->params.data(), int64_t(state->params.size() * sizeof(float)), 0);
  comm.Broadcast(state->velocity.data(), int64_t(state->velocity.size() * sizeof(float)), 0);
  backend->SetState(state->params, state->velocity);
}

}  // namespace

Result<RunSummary> Train(const TrainOptions& o, const std::string& checkpoint_dir, const Comm& comm,
                         const FashionMnist& data, ComputeBackend* backend, TrainState* state) {
  RunSummary summary;
  for (int epoch = state->epochs_done + 1; epoch <= o.epochs; ++epoch) {
    MPI_Barrier(comm.handle());
    const double t0 = MPI_Wtime();
    const double train_loss = TrainEpoch(o, comm, backend, state);
    const double seconds = MPI_Wtime() - t0;  // TrainEpoch ends in a collective: all ranks are done
    summary.test = EvaluateTestSet(comm, data, backend);
    summary.epochs_trained++;
    summary.train_seconds += seconds;
    summary.images_trained += state->train_count;

    state->epochs_done = epoch;
    state->last_train_loss = train_loss;
    state->last_test_accuracy = double(summary.test.correct) / double(summary.test.count);
    CheckRanksAgree(epoch, comm, backend, state);
    Status saved;
    if (comm.rank() == 0) {
      if (comm.size() == 1) backend->GetState(&state->params, &state->velocity);
      saved = SaveCheckpoint(checkpoint_dir, *state);
    }
    if (comm.AnyFailed(saved, "checkpoint after epoch " + std::to_string(epoch) + ": ")) {
      return Status::IOError("checkpoint not written");
    }
    if (comm.rank() == 0) {
      std::printf("epoch %d/%d train_loss %.6f test_loss %.6f test_accuracy %.2f%% images/s %.0f\n", epoch, o.epochs,
                  train_loss, summary.test.loss_sum / double(summary.test.count), 100.0 * state->last_test_accuracy,
                  double(state->train_count) / seconds);
      std::fflush(stdout);
    }
  }
  return summary;
}

}  // namespace ddp
