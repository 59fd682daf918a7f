// Checkpoints: the whole training state after an epoch, in one file written
// atomically (temporary file, fsync, rename, fsync of the folder), so a job
// killed at any instant leaves either the previous checkpoint or the new one.
//
// Format (frozen, version 1; little-endian):
//   "DDPTRAIN" | u32 version | u32 layers | u32 widths[layers+1]
//   | i32 epochs_done | u64 seed | i32 global_batch | i64 train_count
//   | u64 order_rng[4] | i64 steps | f64 last_train_loss | f64 last_test_accuracy
//   | i64 n | f32 params[n] | f32 velocity[n] | u32 crc32 of all before it
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rng.h"
#include "status.h"

namespace ddp {

inline constexpr char kCheckpointFileName[] = "ddp_train.ckpt";
inline constexpr uint32_t kCheckpointVersion = 1;

struct TrainState {
  int32_t epochs_done = 0;
  // The run's identity: a checkpoint resumes only a run with the same three.
  uint64_t seed = 0;
  int32_t global_batch = 0;
  int64_t train_count = 0;
  // The batch-order generator as it stands after `epochs_done` epochs.
  Rng::State order_rng{};
  int64_t steps = 0;
  double last_train_loss = 0;
  double last_test_accuracy = 0;
  std::vector<float> params;
  std::vector<float> velocity;  // SGD momentum buffer, same layout as params
};

std::string SerializeCheckpoint(const TrainState& state);
// Corruption with the reason when `bytes` is not a valid checkpoint of this model.
Result<TrainState> ParseCheckpoint(const std::string& bytes, const std::string& origin);

std::string CheckpointPath(const std::string& dir);
// Writes dir/ddp_train.ckpt atomically.
Status SaveCheckpoint(const std::string& dir, const TrainState& state);
// The file's bytes; NotFound when there is no checkpoint yet.
Result<std::string> ReadCheckpointFile(const std::string& dir);

}  // namespace ddp
