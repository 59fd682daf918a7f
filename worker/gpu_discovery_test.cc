// Tests for GPU discovery: the real CUDA probe on this host, a probe with no libcudart, the declared probe.
#include "worker/gpu_discovery.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>

namespace gm::worker {
namespace {

bool DriverInstalled() {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (lib == nullptr) lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  return lib != nullptr;  // left loaded: the probe loads it too
}

TEST(GpuDiscoveryTest, RealProbeMatchesThisHost) {
  GpuDiscovery d = MakeCudaGpuProbe()->Discover();
  for (const GpuInfo& g : d.gpus) {
    std::cout << "GPU " << g.index << ": " << g.name << ", " << g.memory_mb << " MiB, cc "
              << g.cc_major << "." << g.cc_minor << ", " << g.sm_count << " SMs, " << g.uuid
              << "\n";
  }
  std::cout << "cuda_status: " << d.cuda_status << "\n";

  const bool cudart_installed = access("/usr/local/cuda/lib/libcudart.so.13", F_OK) == 0;
  if (!cudart_installed) {
    EXPECT_TRUE(d.gpus.empty());
    EXPECT_NE(d.cuda_status.find("not found"), std::string::npos) << d.cuda_status;
    return;
  }
  if (!DriverInstalled()) {
    // The development and CI machines: CUDA 13 toolkit, no driver, no GPU.
    EXPECT_TRUE(d.gpus.empty());
    EXPECT_NE(d.cuda_status.find("cudaGetDeviceCount: error 35 "), std::string::npos) << d.cuda_status;
    EXPECT_NE(d.cuda_status.find("insufficient"), std::string::npos) << d.cuda_status;
    EXPECT_FALSE(d.nvml_available);
    return;
  }
  // A GPU machine: what the real path reads must look like real hardware.
  ASSERT_FALSE(d.gpus.empty()) << d.cuda_status;
  for (size_t i = 0; i < d.gpus.size(); ++i) {
    const GpuInfo& g = d.gpus[i];
    EXPECT_EQ(g.index, static_cast<int>(i));
    EXPECT_FALSE(g.name.empty());
    EXPECT_GT(g.memory_mb, 1024);
    EXPECT_GE(g.cc_major, 3);
    EXPECT_GT(g.sm_count, 0);
    EXPECT_EQ(g.uuid.rfind("GPU-", 0), 0u) << g.uuid;
    EXPECT_EQ(g.uuid.size(), 40u) << g.uuid;
    if (d.nvml_available) {
      EXPECT_TRUE(g.memory_used_mb.has_value());
      if (g.utilization_pct) {
        EXPECT_LE(*g.utilization_pct, 100);
      }
    }
  }
}

TEST(GpuDiscoveryTest, MissingLibraryIsNotFound) {
  GpuDiscovery d = MakeCudaGpuProbe({"libcudart_gm_missing.so.99", "/nonexistent/libcudart.so"})->Discover();
  EXPECT_TRUE(d.gpus.empty());
  EXPECT_FALSE(d.nvml_available);
  EXPECT_NE(d.cuda_status.find("libcudart not found"), std::string::npos) << d.cuda_status;
  EXPECT_NE(d.cuda_status.find("/nonexistent/libcudart.so"), std::string::npos) << d.cuda_status;
}

TEST(GpuDiscoveryTest, LibraryWithoutCudaSymbolsIsReported) {
  // libc loads but exports none of the runtime's functions.
  GpuDiscovery d = MakeCudaGpuProbe({"libc.so.6"})->Discover();
  EXPECT_TRUE(d.gpus.empty());
  EXPECT_NE(d.cuda_status.find("libc.so.6 lacks cudaGetDeviceCount"), std::string::npos)
      << d.cuda_status;
}

TEST(GpuDiscoveryTest, DeclaredProbeReturnsDeclaredHardware) {
  GpuDiscovery d = MakeDeclaredGpuProbe(2, "NVIDIA H100 80GB HBM3", 81559)->Discover();
  ASSERT_EQ(d.gpus.size(), 2u);
  EXPECT_FALSE(d.nvml_available);
  EXPECT_NE(d.cuda_status.find("declared"), std::string::npos) << d.cuda_status;
  for (int i = 0; i < 2; ++i) {
    const GpuInfo& g = d.gpus[i];
    EXPECT_EQ(g.index, i);
    EXPECT_EQ(g.name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(g.memory_mb, 81559);
    EXPECT_FALSE(g.utilization_pct.has_value());
    EXPECT_FALSE(g.memory_used_mb.has_value());
    EXPECT_FALSE(g.power_w.has_value());
  }
  EXPECT_TRUE(MakeDeclaredGpuProbe(0, "none", 0)->Discover().gpus.empty());
}

TEST(GpuDiscoveryTest, UuidIsFormattedAsNvidiaSmiPrintsIt) {
  const unsigned char bytes[16] = {0x8e, 0x1f, 0x2a, 0x03, 0x4b, 0x5c, 0x6d, 0x7e,
                                   0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7};
  EXPECT_EQ(FormatGpuUuid(bytes), "GPU-8e1f2a03-4b5c-6d7e-8091-a2b3c4d5e6f7");
}

}  // namespace
}  // namespace gm::worker
