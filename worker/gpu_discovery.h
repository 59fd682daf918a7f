// GPU discovery for gmd: the CUDA runtime, driver API and NVML loaded with dlopen, or declared hardware.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gm::worker {

struct GpuInfo {
  int index = 0;             // CUDA ordinal, as the job sees it through CUDA_VISIBLE_DEVICES
  std::string name;          // "NVIDIA H100 80GB HBM3"; empty when the driver API is unavailable
  int64_t memory_mb = 0;     // total device memory in MiB; 0 when unknown (no driver API)
  int cc_major = 0;          // compute capability (9.0 for H100/H200); 0 when declared
  int cc_minor = 0;
  int sm_count = 0;          // streaming multiprocessors; 0 when declared
  std::string uuid;          // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" as nvidia-smi prints it; empty when unknown
  // Live figures from NVML; nullopt = unknown (never 0 for unknown).
  std::optional<int> utilization_pct;
  std::optional<int64_t> memory_used_mb;
  std::optional<double> power_w;
};

struct GpuDiscovery {
  std::vector<GpuInfo> gpus;
  // One line for the operator: "libcudart not found (...)", "cudaGetDeviceCount:
  // error 35 (CUDA driver version is insufficient for CUDA runtime version);
  // runtime 13.0, driver none", "2 GPUs; runtime 13.0, driver 13.0".
  std::string cuda_status;
  bool nvml_available = false;  // nvmlInit_v2 succeeded
};

// How gmd learns its GPUs; an interface so tests and gmd can swap in a fake.
class GpuProbe {
 public:
  virtual ~GpuProbe() = default;
  virtual GpuDiscovery Discover() = 0;
};

// The real probe. Tries each name in `cudart_names` with dlopen, in order. Never
// fails: a machine without CUDA, driver or GPU gets zero GPUs and a cuda_status
// saying why. Libraries stay loaded for the life of the process, because the
// CUDA runtime does not survive being unloaded and reloaded reliably.
std::unique_ptr<GpuProbe> MakeCudaGpuProbe(std::vector<std::string> cudart_names = {
                                               "libcudart.so.13", "libcudart.so.12", "libcudart.so",
                                               "/usr/local/cuda/lib64/libcudart.so.13",
                                               "/usr/local/cuda/lib/libcudart.so.13"});

// "Declared" hardware for machines whose driver cannot be probed: `count` GPUs
// named `model` with `memory_mb` each; everything unmeasured is left unknown.
std::unique_ptr<GpuProbe> MakeDeclaredGpuProbe(int count, std::string model, int64_t memory_mb);

// "GPU-" and the 16 bytes in nvidia-smi's 8-4-4-4-12 lowercase hex grouping.
std::string FormatGpuUuid(const unsigned char (&bytes)[16]);

}  // namespace gm::worker
