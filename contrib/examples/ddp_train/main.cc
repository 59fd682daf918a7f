// ddp_train: data-parallel training of a 784-256-128-10 MLP on Fashion-MNIST.
// The composition root: options, MPI, data, checkpoint, backend, then the
// loop in trainer.cc. Run it alone or under mpirun; see README.md.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "backend.h"
#include "checkpoint.h"
#include "comm.h"
#include "idx_reader.h"
#include "options.h"
#include "trainer.h"

namespace ddp {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Rank 0 reads (and validates) the checkpoint and broadcasts it: the other
// ranks need not share its file system. Returns false after printing an error.
bool RestoreOrStart(const TrainOptions& o, const std::string& dir, const Comm& comm, int64_t train_count,
                    TrainState* state, bool* resumed) {
  std::string bytes;
  Status status;
  if (comm.rank() == 0) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      status = Status::IOError("--checkpoint-dir " + dir + ": " + ec.message());
    } else if (::access(dir.c_str(), W_OK) != 0) {
      status = Status::IOError("--checkpoint-dir " + dir + ": not writable");
    } else if (auto file = ReadCheckpointFile(dir); file.ok()) {
      auto parsed = ParseCheckpoint(*file, CheckpointPath(dir));
      status = parsed.ok() ? CheckResumable(*parsed, o, train_count, CheckpointPath(dir)) : parsed.status();
      bytes = std::move(*file);
    } else if (file.status().code() != Status::Code::kNotFound) {
      status = file.status();
    }
  }
  if (comm.AnyFailed(status, "")) return false;
  comm.Broadcast(&bytes, 0);
  *resumed = !bytes.empty();
  *state = *resumed ? std::move(*ParseCheckpoint(bytes, CheckpointPath(dir))) : FreshState(o, train_count);
  return true;
}

// The backend --device asks for; nullptr after printing why there is none.
std::unique_ptr<ComputeBackend> SelectBackend(DeviceChoice device, const FashionMnist& data, const Comm& comm) {
  if (device == DeviceChoice::kCpu) return MakeCpuBackend(data, comm);
  const Status probe = ProbeCuda();
  if (device == DeviceChoice::kCuda) {
    if (comm.AnyFailed(probe, "--device cuda: ")) return nullptr;
  } else if (comm.AllreduceMax(probe.ok() ? 0 : 1) != 0) {
    if (comm.rank() == 0) {
      std::printf("ddp_train: note: --device auto: %s; training on the CPU\n",
                  probe.ok() ? "a rank has no usable CUDA device" : probe.message().c_str());
    }
    return MakeCpuBackend(data, comm);
  }
  auto cuda = MakeCudaBackend(data, comm);  // prints its own errors
  if (!cuda.ok()) return nullptr;
  return std::move(*cuda);
}

void PrintFinal(const TrainOptions& o, const Comm& comm, const ComputeBackend& backend, const TrainState& state,
                int resumed_from, const RunSummary& run) {
  const double images_per_s = run.train_seconds > 0 ? double(run.images_trained) / run.train_seconds : 0.0;
  std::printf(
      "{\"final\":true,\"epochs\":%d,\"epochs_trained\":%d,\"resumed_from_epoch\":%d,\"ranks\":%d,"
      "\"device\":\"%s\",\"global_batch\":%d,\"train_images\":%lld,\"test_images\":%lld,"
      "\"train_loss\":%.9g,\"test_loss\":%.9g,\"test_accuracy\":%.6f,\"images_per_s\":%.1f,"
      "\"train_seconds\":%.3f}\n",
      state.epochs_done, run.epochs_trained, resumed_from, comm.size(), backend.Describe().c_str(), o.global_batch,
      static_cast<long long>(state.train_count), static_cast<long long>(run.test.count), state.last_train_loss,
      run.test.loss_sum / double(run.test.count), double(run.test.correct) / double(run.test.count), images_per_s,
      run.train_seconds);
  std::fflush(stdout);
}

int Main(int argc, char** argv, const Comm& comm) {
  auto parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) {
    if (comm.rank() == 0) std::fprintf(stderr, "ddp_train: %s; see --help\n", parsed.status().message().c_str());
    return kExitUsage;
  }
  const TrainOptions& o = *parsed;
  if (o.help) {
    if (comm.rank() == 0) std::fputs(UsageText(), stdout);
    return 0;
  }
  std::error_code ec;
  const std::string dir = o.checkpoint_dir.empty() ? std::filesystem::current_path(ec).string() : o.checkpoint_dir;

  auto data = LoadFashionMnist(o.data_dir, o.max_train);
  if (comm.AnyFailed(data.ok() ? Status::OK() : data.status(), "")) return kExitError;

  // The device first: a job that cannot have the GPU it asked for fails
  // before it touches the checkpoint folder.
  auto backend = SelectBackend(o.device, *data, comm);
  if (backend == nullptr) return kExitError;

  TrainState state;
  bool resumed = false;
  if (!RestoreOrStart(o, dir, comm, data->train.count, &state, &resumed)) return kExitError;
  backend->SetState(state.params, state.velocity);

  const int resumed_from = state.epochs_done;
  if (comm.rank() == 0) {
    const auto [first, per_rank] = ShardOf(o.global_batch, 0, comm.size());
    std::printf("ddp_train: %d rank(s), %s, %lld training and %lld test images, global batch %d (%lld on rank 0), "
                "lr %g, momentum %g, seed %llu, checkpoint %s\n",
                comm.size(), backend->Describe().c_str(), static_cast<long long>(data->train.count),
                static_cast<long long>(data->test.count), o.global_batch, static_cast<long long>(per_rank),
                o.learning_rate, o.momentum, static_cast<unsigned long long>(o.seed), CheckpointPath(dir).c_str());
    if (resumed) std::printf("resuming from epoch %d\n", state.epochs_done);
    if (state.epochs_done >= o.epochs) {
      std::printf("nothing to train: the checkpoint is at epoch %d, --epochs is %d\n", state.epochs_done, o.epochs);
    }
    std::fflush(stdout);
  }

  auto run = Train(o, dir, comm, *data, backend.get(), &state);
  if (!run.ok()) return kExitError;
  if (run->epochs_trained == 0) run->test = EvaluateTestSet(comm, *data, backend.get());
  if (comm.rank() == 0) PrintFinal(o, comm, *backend, state, resumed_from, *run);
  return 0;
}

}  // namespace
}  // namespace ddp

int main(int argc, char** argv) {
  ddp::MpiSession mpi(&argc, &argv);
  return ddp::Main(argc, argv, ddp::Comm::World());
}
