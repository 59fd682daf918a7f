// Finds the machine's GPUs through libcudart, libcuda and NVML loaded at run time, so gmd starts on GPU-less hosts.
#include "worker/gpu_discovery.h"

#include <dlfcn.h>

#include <cstddef>
#include <cstdio>
#include <utility>

namespace gm::worker {
namespace {

// Hand-declared ABI, because gmd must not include or link CUDA (it would not
// start where no driver is installed, see shared/mpi/NOTES.md). Every value and
// signature below was checked against CUDA 13.0's headers in
// /usr/local/cuda/include; the enum and result types are C ints there.

// driver_types.h, enum cudaError.
constexpr int kCudaSuccess = 0;
// driver_types.h, enum cudaDeviceAttr (the same numbers as cuda.h's
// CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT / _COMPUTE_CAPABILITY_MAJOR / _MINOR).
constexpr int kCudaDevAttrMultiProcessorCount = 16;
constexpr int kCudaDevAttrComputeCapabilityMajor = 75;
constexpr int kCudaDevAttrComputeCapabilityMinor = 76;

// cuda_runtime_api.h. cudaGetDeviceProperties is deliberately not used: the
// cudaDeviceProp layout changes between CUDA versions (and the exported symbol
// is versioned), so a hand-declared copy would read garbage on another runtime.
using CudaGetDeviceCountFn = int (*)(int* count);
using CudaDeviceGetAttributeFn = int (*)(int* value, int attr, int device);
using CudaGetErrorStringFn = const char* (*)(int error);
using CudaGetLastErrorFn = int (*)();
using CudaRuntimeGetVersionFn = int (*)(int* version);
using CudaDriverGetVersionFn = int (*)(int* version);

// cuda.h: CUresult and CUdevice are ints; CUuuid is `struct { char bytes[16]; }`.
// cuda.h #defines cuDeviceTotalMem to cuDeviceTotalMem_v2 (size_t bytes) and
// cuDeviceGetUuid to cuDeviceGetUuid_v2; the unversioned symbols are the old ABI.
constexpr int kCuSuccess = 0;
struct CuUuid {
  unsigned char bytes[16];
};
using CuInitFn = int (*)(unsigned int flags);
using CuDeviceGetFn = int (*)(int* device, int ordinal);
using CuDeviceGetNameFn = int (*)(char* name, int len, int device);
using CuDeviceGetUuidFn = int (*)(CuUuid* uuid, int device);
using CuDeviceTotalMemFn = int (*)(size_t* bytes, int device);

// NVML (no nvml.h in the toolkit; signatures as in shared/mpi/NOTES.md and
// NVIDIA's nvml.h). nvmlReturn_t is an int enum, 0 = NVML_SUCCESS.
constexpr int kNvmlSuccess = 0;
struct NvmlDevice;  // opaque nvmlDevice_t target
struct NvmlUtilization {
  unsigned int gpu;     // percent of the last sample period with a kernel running
  unsigned int memory;  // percent of it with device memory being read or written
};
struct NvmlMemory {  // nvmlMemory_t (v1), bytes
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
using NvmlInitFn = int (*)();
using NvmlShutdownFn = int (*)();
using NvmlDeviceGetHandleByUuidFn = int (*)(const char* uuid, NvmlDevice** device);
using NvmlDeviceGetUtilizationRatesFn = int (*)(NvmlDevice* device, NvmlUtilization* util);
using NvmlDeviceGetMemoryInfoFn = int (*)(NvmlDevice* device, NvmlMemory* memory);
using NvmlDeviceGetPowerUsageFn = int (*)(NvmlDevice* device, unsigned int* milliwatts);

constexpr int64_t kMiB = 1024 * 1024;

template <typename Fn>
Fn Sym(void* lib, const char* name) {
  return reinterpret_cast<Fn>(dlsym(lib, name));
}

// 13000 -> "13.0", 12040 -> "12.4" (CUDA encodes 1000*major + 10*minor).
std::string CudaVersionText(int v) {
  if (v <= 0) return "none";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

struct CudaRuntime {
  std::string lib_name;
  CudaGetDeviceCountFn get_device_count = nullptr;
  CudaDeviceGetAttributeFn device_get_attribute = nullptr;
  CudaGetErrorStringFn get_error_string = nullptr;
  CudaGetLastErrorFn get_last_error = nullptr;
  CudaRuntimeGetVersionFn runtime_get_version = nullptr;
  CudaDriverGetVersionFn driver_get_version = nullptr;
};

// Returns an empty string on success, else the reason for cuda_status.
std::string LoadCudaRuntime(const std::vector<std::string>& names, CudaRuntime* rt) {
  void* lib = nullptr;
  std::string tried;
  for (const std::string& name : names) {
    lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) {
      rt->lib_name = name;
      break;
    }
    tried += (tried.empty() ? "" : ", ") + name;
  }
  if (lib == nullptr) return "libcudart not found (tried " + tried + ")";

  rt->get_device_count = Sym<CudaGetDeviceCountFn>(lib, "cudaGetDeviceCount");
  rt->device_get_attribute = Sym<CudaDeviceGetAttributeFn>(lib, "cudaDeviceGetAttribute");
  rt->get_error_string = Sym<CudaGetErrorStringFn>(lib, "cudaGetErrorString");
  rt->get_last_error = Sym<CudaGetLastErrorFn>(lib, "cudaGetLastError");
  rt->runtime_get_version = Sym<CudaRuntimeGetVersionFn>(lib, "cudaRuntimeGetVersion");
  rt->driver_get_version = Sym<CudaDriverGetVersionFn>(lib, "cudaDriverGetVersion");
  std::string missing;
  auto need = [&](const void* fn, const char* name) {
    if (fn == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(name);
  };
  need(reinterpret_cast<const void*>(rt->get_device_count), "cudaGetDeviceCount");
  need(reinterpret_cast<const void*>(rt->device_get_attribute), "cudaDeviceGetAttribute");
  need(reinterpret_cast<const void*>(rt->get_error_string), "cudaGetErrorString");
  need(reinterpret_cast<const void*>(rt->get_last_error), "cudaGetLastError");
  need(reinterpret_cast<const void*>(rt->runtime_get_version), "cudaRuntimeGetVersion");
  need(reinterpret_cast<const void*>(rt->driver_get_version), "cudaDriverGetVersion");
  if (!missing.empty()) return rt->lib_name + " lacks " + missing;
  return "";
}

// The driver API gives name, UUID and total memory without creating a CUDA
// context (cudaMemGetInfo would create one per GPU: hundreds of MiB each and
// a clash with a job holding the GPU in exclusive-process mode).
struct CudaDriver {
  bool ok = false;
  CuDeviceGetFn device_get = nullptr;
  CuDeviceGetNameFn device_get_name = nullptr;
  CuDeviceGetUuidFn device_get_uuid = nullptr;
  CuDeviceTotalMemFn device_total_mem = nullptr;
};

CudaDriver LoadCudaDriver() {
  CudaDriver drv;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return drv;
  auto init = Sym<CuInitFn>(lib, "cuInit");
  drv.device_get = Sym<CuDeviceGetFn>(lib, "cuDeviceGet");
  drv.device_get_name = Sym<CuDeviceGetNameFn>(lib, "cuDeviceGetName");
  drv.device_get_uuid = Sym<CuDeviceGetUuidFn>(lib, "cuDeviceGetUuid_v2");
  // Drivers before CUDA 11.4 export only the first version; for a whole GPU both give the same bytes.
  if (drv.device_get_uuid == nullptr) drv.device_get_uuid = Sym<CuDeviceGetUuidFn>(lib, "cuDeviceGetUuid");
  drv.device_total_mem = Sym<CuDeviceTotalMemFn>(lib, "cuDeviceTotalMem_v2");
  drv.ok = init != nullptr && drv.device_get != nullptr && init(0) == kCuSuccess;
  return drv;
}

struct Nvml {
  bool ok = false;
  NvmlShutdownFn shutdown = nullptr;
  NvmlDeviceGetHandleByUuidFn get_handle_by_uuid = nullptr;
  NvmlDeviceGetUtilizationRatesFn get_utilization = nullptr;
  NvmlDeviceGetMemoryInfoFn get_memory = nullptr;
  NvmlDeviceGetPowerUsageFn get_power = nullptr;
};

Nvml LoadNvml() {
  Nvml nvml;
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return nvml;
  auto init = Sym<NvmlInitFn>(lib, "nvmlInit_v2");
  nvml.shutdown = Sym<NvmlShutdownFn>(lib, "nvmlShutdown");
  nvml.get_handle_by_uuid = Sym<NvmlDeviceGetHandleByUuidFn>(lib, "nvmlDeviceGetHandleByUUID");
  nvml.get_utilization = Sym<NvmlDeviceGetUtilizationRatesFn>(lib, "nvmlDeviceGetUtilizationRates");
  nvml.get_memory = Sym<NvmlDeviceGetMemoryInfoFn>(lib, "nvmlDeviceGetMemoryInfo");
  nvml.get_power = Sym<NvmlDeviceGetPowerUsageFn>(lib, "nvmlDeviceGetPowerUsage");
  nvml.ok = init != nullptr && nvml.shutdown != nullptr && init() == kNvmlSuccess;
  return nvml;
}

// NVML numbers GPUs in PCI order while CUDA's ordinals follow CUDA_DEVICE_ORDER
// and CUDA_VISIBLE_DEVICES, so the two are matched by UUID, never by index.
void FillFromNvml(const Nvml& nvml, GpuInfo* gpu) {
  if (!nvml.ok || gpu->uuid.empty() || nvml.get_handle_by_uuid == nullptr) return;
  NvmlDevice* dev = nullptr;
  if (nvml.get_handle_by_uuid(gpu->uuid.c_str(), &dev) != kNvmlSuccess) return;
  NvmlUtilization util{};
  if (nvml.get_utilization != nullptr && nvml.get_utilization(dev, &util) == kNvmlSuccess) {
    gpu->utilization_pct = static_cast<int>(util.gpu);
  }
  NvmlMemory mem{};
  if (nvml.get_memory != nullptr && nvml.get_memory(dev, &mem) == kNvmlSuccess) {
    gpu->memory_used_mb = static_cast<int64_t>(mem.used / kMiB);
  }
  unsigned int mw = 0;
  if (nvml.get_power != nullptr && nvml.get_power(dev, &mw) == kNvmlSuccess) {
    gpu->power_w = mw / 1000.0;
  }
}

// Returns a note for cuda_status when something about this GPU could not be read.
std::string FillFromCuda(const CudaRuntime& rt, const CudaDriver& drv, GpuInfo* gpu) {
  std::string note;
  auto attr = [&](int which, int* out) {
    int e = rt.device_get_attribute(out, which, gpu->index);
    if (e != kCudaSuccess) {
      rt.get_last_error();
      note = "cudaDeviceGetAttribute(" + std::to_string(which) + "): error " + std::to_string(e);
    }
  };
  attr(kCudaDevAttrComputeCapabilityMajor, &gpu->cc_major);
  attr(kCudaDevAttrComputeCapabilityMinor, &gpu->cc_minor);
  attr(kCudaDevAttrMultiProcessorCount, &gpu->sm_count);

  if (!drv.ok) return note.empty() ? "driver API unavailable" : note;
  int dev = 0;
  if (drv.device_get(&dev, gpu->index) != kCuSuccess) return "cuDeviceGet failed";
  char name[256] = {};
  if (drv.device_get_name != nullptr && drv.device_get_name(name, sizeof(name) - 1, dev) == kCuSuccess) {
    gpu->name = name;
  }
  CuUuid uuid{};
  if (drv.device_get_uuid != nullptr && drv.device_get_uuid(&uuid, dev) == kCuSuccess) {
    gpu->uuid = FormatGpuUuid(uuid.bytes);
  }
  size_t bytes = 0;
  if (drv.device_total_mem != nullptr && drv.device_total_mem(&bytes, dev) == kCuSuccess) {
    gpu->memory_mb = static_cast<int64_t>(bytes / kMiB);
  }
  return note;
}

class CudaGpuProbe : public GpuProbe {
 public:
  explicit CudaGpuProbe(std::vector<std::string> names) : names_(std::move(names)) {}

  GpuDiscovery Discover() override {
    GpuDiscovery d;
    CudaRuntime rt;
    std::string err = LoadCudaRuntime(names_, &rt);
    if (!err.empty()) {
      d.cuda_status = err;
      return d;
    }
    int runtime_version = 0, driver_version = 0;
    rt.runtime_get_version(&runtime_version);
    rt.driver_get_version(&driver_version);  // 0 where no driver is installed
    const std::string versions =
        "; runtime " + CudaVersionText(runtime_version) + ", driver " + CudaVersionText(driver_version);

    // Left untouched on failure (measured: -1 stays -1), so start from 0.
    int count = 0;
    int e = rt.get_device_count(&count);
    if (e != kCudaSuccess) {
      const char* text = rt.get_error_string(e);
      rt.get_last_error();  // clear the sticky error so later runtime calls in gmd start clean
      d.cuda_status = "cudaGetDeviceCount: error " + std::to_string(e) + " (" +
                      (text != nullptr ? text : "unknown") + ")" + versions;
      return d;
    }
    if (count <= 0) {
      d.cuda_status = "0 GPUs" + versions;
      return d;
    }

    CudaDriver drv = LoadCudaDriver();
    Nvml nvml = LoadNvml();
    d.nvml_available = nvml.ok;
    std::string notes;
    for (int i = 0; i < count; ++i) {
      GpuInfo gpu;
      gpu.index = i;
      std::string note = FillFromCuda(rt, drv, &gpu);
      if (!note.empty()) notes += "; GPU " + std::to_string(i) + ": " + note;
      FillFromNvml(nvml, &gpu);
      d.gpus.push_back(std::move(gpu));
    }
    if (nvml.ok) nvml.shutdown();
    d.cuda_status = std::to_string(count) + (count == 1 ? " GPU" : " GPUs") + versions + notes;
    return d;
  }

 private:
  std::vector<std::string> names_;
};

class DeclaredGpuProbe : public GpuProbe {
 public:
  DeclaredGpuProbe(int count, std::string model, int64_t memory_mb)
      : count_(count), model_(std::move(model)), memory_mb_(memory_mb) {}

  GpuDiscovery Discover() override {
    GpuDiscovery d;
    for (int i = 0; i < count_; ++i) {
      GpuInfo gpu;
      gpu.index = i;
      gpu.name = model_;
      gpu.memory_mb = memory_mb_;
      d.gpus.push_back(std::move(gpu));
    }
    d.cuda_status = "declared: " + std::to_string(d.gpus.size()) + " x " + model_ + " (not probed)";
    return d;
  }

 private:
  int count_;
  std::string model_;
  int64_t memory_mb_;
};

}  // namespace

std::string FormatGpuUuid(const unsigned char (&b)[16]) {
  char text[64];
  std::snprintf(text, sizeof(text),
                "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                b[13], b[14], b[15]);
  return text;
}

std::unique_ptr<GpuProbe> MakeCudaGpuProbe(std::vector<std::string> cudart_names) {
  return std::make_unique<CudaGpuProbe>(std::move(cudart_names));
}

std::unique_ptr<GpuProbe> MakeDeclaredGpuProbe(int count, std::string model, int64_t memory_mb) {
  return std::make_unique<DeclaredGpuProbe>(count, std::move(model), memory_mb);
}

}  // namespace gm::worker
