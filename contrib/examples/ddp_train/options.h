// Command-line options of ddp_train and their parser.
#pragma once

#include <cstdint>
#include <string>

#include "status.h"

namespace ddp {

enum class DeviceChoice { kCpu, kCuda, kAuto };

struct TrainOptions {
  // Epochs to have completed when the run ends, counting those restored from
  // a checkpoint: a requeued `--epochs 10` job that finds epoch 4 trains 6.
  int epochs = 5;
  // Folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  // Global batch: split over the ranks, so the result does not depend on
  // how many ranks there are.
  int global_batch = 256;
  float learning_rate = 0.05f;
  float momentum = 0.9f;
  uint64_t seed = 1;
  // Where ddp_train.ckpt lives; empty = the current working directory, which
  // is the job's directory when a scheduler starts the job.
  std::string checkpoint_dir;
  // Train on the first N training images only (0 = all 60,000).
  int64_t max_train = 0;
  DeviceChoice device = DeviceChoice::kAuto;
  bool help = false;
};

// Parses argv. "--flag value" and "--flag=value" are both accepted.
Result<TrainOptions> ParseOptions(int argc, char** argv);

const char* UsageText();
const char* DeviceName(DeviceChoice d);

}  // namespace ddp
