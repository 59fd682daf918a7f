// Parsing of ddp_train's flags: every value is checked, and a bad one is
// named in the error together with what was expected.
#include "options.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

namespace ddp {
namespace {

template <typename T>
Status ParseNumber(std::string_view flag, std::string_view text, T min, T max, T* out) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    return Status::InvalidArgument(std::string(flag) + ": '" + std::string(text) + "' is not a number");
  }
  if (!(value >= min && value <= max)) {
    return Status::InvalidArgument(std::string(flag) + ": " + std::string(text) + " is out of range [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  *out = value;
  return Status::OK();
}

Status ParseDevice(std::string_view text, DeviceChoice* out) {
  if (text == "cpu") *out = DeviceChoice::kCpu;
  else if (text == "cuda") *out = DeviceChoice::kCuda;
  else if (text == "auto") *out = DeviceChoice::kAuto;
  else return Status::InvalidArgument("--device: '" + std::string(text) + "' is not one of cpu, cuda, auto");
  return Status::OK();
}

bool IsKnownFlag(std::string_view flag) {
  for (std::string_view known : {"--epochs", "--batch", "--lr", "--momentum", "--seed", "--max-train", "--device", "--data",
                                 "--checkpoint-dir"}) {
    if (flag == known) return true;
  }
  return false;
}

Status ApplyFlag(std::string_view flag, std::string_view value, TrainOptions* o) {
  if (flag == "--epochs") return ParseNumber<int>(flag, value, 1, 100000, &o->epochs);
  if (flag == "--batch") return ParseNumber<int>(flag, value, 1, 1 << 20, &o->global_batch);
  if (flag == "--lr") return ParseNumber<float>(flag, value, 1e-9f, 100.0f, &o->learning_rate);
  if (flag == "--momentum") return ParseNumber<float>(flag, value, 0.0f, 0.999f, &o->momentum);
  if (flag == "--seed") return ParseNumber<uint64_t>(flag, value, 0, UINT64_MAX, &o->seed);
  if (flag == "--max-train") return ParseNumber<int64_t>(flag, value, 0, INT64_MAX, &o->max_train);
  if (flag == "--device") return ParseDevice(value, &o->device);
  if (flag == "--data" || flag == "--checkpoint-dir") {
    if (value.empty()) return Status::InvalidArgument(std::string(flag) + ": empty path");
    (flag == "--data" ? o->data_dir : o->checkpoint_dir) = std::string(value);
    return Status::OK();
  }
  return Status::InvalidArgument("unknown option '" + std::string(flag) + "'");
}

}  // namespace

Result<TrainOptions> ParseOptions(int argc, char** argv) {
  TrainOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      return Status::InvalidArgument("unexpected argument '" + std::string(arg) + "'");
    }
    std::string_view flag = arg, value;
    const auto eq = arg.find('=');
    if (eq != std::string_view::npos) flag = arg.substr(0, eq);
    if (!IsKnownFlag(flag)) return Status::InvalidArgument("unknown option '" + std::string(flag) + "'");
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) return Status::InvalidArgument(std::string(flag) + ": missing value");
      value = argv[++i];
    }
    if (Status s = ApplyFlag(flag, value, &o); !s.ok()) return s;
  }
  return o;
}

const char* DeviceName(DeviceChoice d) {
  switch (d) {
    case DeviceChoice::kCpu: return "cpu";
    case DeviceChoice::kCuda: return "cuda";
    case DeviceChoice::kAuto: return "auto";
  }
  return "?";
}

const char* UsageText() {
  return "usage: ddp_train [options]   (run with mpirun -np N for N data-parallel ranks)\n"
         "  --epochs N           epochs to have completed at the end, counting resumed ones (default 5)\n"
         "  --data DIR           Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)\n"
         "  --batch N            global batch size, split over the ranks (default 256)\n"
         "  --lr X               learning rate of SGD with momentum (default 0.05)\n"
         "  --momentum X         momentum (default 0.9)\n"
         "  --seed N             seed of the initial weights and the batch order (default 1)\n"
         "  --checkpoint-dir DIR where ddp_train.ckpt is written each epoch and resumed from\n"
         "                       (default: the current working directory)\n"
         "  --max-train N        use only the first N training images (default: all)\n"
         "  --device D           cpu, cuda or auto (default auto: CUDA when every rank has a GPU)\n";
}

}  // namespace ddp
