// Reading Fashion-MNIST (or MNIST) from IDX files, gzip-compressed or not.
// IDX: a big-endian header (magic 0x00000803 for 3-d unsigned-byte images,
// 0x00000801 for 1-d labels, then one 32-bit size per dimension), then the
// bytes. Everything that can be wrong in a file is checked and named.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace ddp {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;
inline constexpr int kImageSide = 28;
inline constexpr int kImagePixels = kImageSide * kImageSide;
inline constexpr int kNumClasses = 10;

// Images as floats in [0, 1], row-major [count x 784]; labels 0..9.
struct LabeledImages {
  int64_t count = 0;
  std::vector<float> pixels;
  std::vector<int32_t> labels;
};

// Reads `images_path` and `labels_path` (each may end in .gz or not). With
// max_count > 0 only the first max_count examples are read (the files must
// hold at least that many unless they hold fewer in total, then all are used).
Result<LabeledImages> ReadIdxPair(const std::string& images_path, const std::string& labels_path,
                                  int64_t max_count);

struct FashionMnist {
  LabeledImages train;
  LabeledImages test;
};

// Finds "<dir>/<name>.gz" or "<dir>/<name>" for the four standard names.
Result<FashionMnist> LoadFashionMnist(const std::string& dir, int64_t max_train);

}  // namespace ddp
