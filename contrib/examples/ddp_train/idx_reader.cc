// IDX parsing through zlib's gzread, which also reads uncompressed files.
#include "idx_reader.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace ddp {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Reads exactly n bytes or says why not.
Status ReadExact(gzFile f, const std::string& path, void* dst, size_t n, const char* what) {
  auto* out = static_cast<unsigned char*>(dst);
  while (n > 0) {
    const unsigned chunk = n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
    const int got = gzread(f, out, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      return Status::Corruption(path + ": cannot read " + what + ": " +
                                (errnum == Z_ERRNO ? std::strerror(errno) : msg));
    }
    if (got == 0) return Status::Corruption(path + ": file ends early, in the " + std::string(what));
    out += got;
    n -= static_cast<size_t>(got);
  }
  return Status::OK();
}

Result<GzFile> Open(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    return Status::NotFound(path + ": cannot open: " + std::strerror(errno ? errno : ENOENT));
  }
  return GzFile(f);
}

// Reads the header: magic, then `dims` big-endian sizes.
Status ReadHeader(gzFile f, const std::string& path, uint32_t want_magic, const char* kind,
                  std::vector<uint32_t>* sizes) {
  const size_t dims = want_magic & 0xff;
  unsigned char raw[4 * 4];
  if (Status s = ReadExact(f, path, raw, 4, "IDX header"); !s.ok()) return s;
  auto be32 = [](const unsigned char* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  };
  const uint32_t magic = be32(raw);
  if (magic != want_magic) {
    return Status::Corruption(path + ": bad magic number " + Hex32(magic) + ", expected " + Hex32(want_magic) +
                              " (" + kind + "); is this an IDX file?");
  }
  if (Status s = ReadExact(f, path, raw, 4 * dims, "IDX header"); !s.ok()) return s;
  sizes->clear();
  for (size_t i = 0; i < dims; ++i) sizes->push_back(be32(raw + 4 * i));
  return Status::OK();
}

Result<int64_t> ReadImages(const std::string& path, int64_t max_count, std::vector<float>* pixels) {
  auto f = Open(path);
  if (!f.ok()) return f.status();
  std::vector<uint32_t> sizes;
  if (Status s = ReadHeader(f->get(), path, kIdxImagesMagic, "unsigned-byte images, 3 dimensions", &sizes); !s.ok())
    return s;
  if (sizes[1] != kImageSide || sizes[2] != kImageSide) {
    return Status::Corruption(path + ": images are " + std::to_string(sizes[1]) + "x" + std::to_string(sizes[2]) +
                              ", expected 28x28");
  }
  int64_t count = sizes[0];
  if (max_count > 0 && max_count < count) count = max_count;
  std::vector<unsigned char> raw(static_cast<size_t>(count) * kImagePixels);
  if (Status s = ReadExact(f->get(), path, raw.data(), raw.size(),
                           ("pixels (header promises " + std::to_string(sizes[0]) + " images)").c_str());
      !s.ok())
    return s;
  pixels->resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) (*pixels)[i] = raw[i] * (1.0f / 255.0f);
  return count;
}

Result<int64_t> ReadLabels(const std::string& path, int64_t max_count, std::vector<int32_t>* labels) {
  auto f = Open(path);
  if (!f.ok()) return f.status();
  std::vector<uint32_t> sizes;
  if (Status s = ReadHeader(f->get(), path, kIdxLabelsMagic, "unsigned-byte labels, 1 dimension", &sizes); !s.ok())
    return s;
  int64_t count = sizes[0];
  if (max_count > 0 && max_count < count) count = max_count;
  std::vector<unsigned char> raw(static_cast<size_t>(count));
  if (Status s = ReadExact(f->get(), path, raw.data(), raw.size(),
                           ("labels (header promises " + std::to_string(sizes[0]) + " labels)").c_str());
      !s.ok())
    return s;
  labels->resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] >= kNumClasses) {
      return Status::Corruption(path + ": label " + std::to_string(raw[i]) + " at index " + std::to_string(i) +
                                " is not a class 0..9");
    }
    (*labels)[i] = raw[i];
  }
  return count;
}

}  // namespace

Result<LabeledImages> ReadIdxPair(const std::string& images_path, const std::string& labels_path,
                                  int64_t max_count) {
  LabeledImages out;
  auto n_images = ReadImages(images_path, max_count, &out.pixels);
  if (!n_images.ok()) return n_images.status();
  auto n_labels = ReadLabels(labels_path, max_count, &out.labels);
  if (!n_labels.ok()) return n_labels.status();
  if (*n_images != *n_labels) {
    return Status::Corruption(images_path + " holds " + std::to_string(*n_images) + " images but " + labels_path +
                              " holds " + std::to_string(*n_labels) + " labels");
  }
  if (*n_images == 0) return Status::Corruption(images_path + ": holds no images");
  out.count = *n_images;
  return out;
}

Result<FashionMnist> LoadFashionMnist(const std::string& dir, int64_t max_train) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::NotFound("--data " + dir +
                            ": no such directory (Debian's dataset-fashion-mnist installs the files in "
                            "/usr/share/datasets/fashion-mnist)");
  }
  auto find = [&](const std::string& name) -> Result<std::string> {
    for (const std::string& candidate : {dir + "/" + name + ".gz", dir + "/" + name}) {
      if (std::filesystem::exists(candidate, ec)) return candidate;
    }
    return Status::NotFound("--data " + dir + ": neither " + name + ".gz nor " + name + " is there");
  };
  Result<std::string> paths[4] = {find("train-images-idx3-ubyte"), find("train-labels-idx1-ubyte"),
                                  find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte")};
  for (auto& p : paths) {
    if (!p.ok()) return p.status();
  }
  FashionMnist data;
  auto train = ReadIdxPair(*paths[0], *paths[1], max_train);
  if (!train.ok()) return train.status();
  auto test = ReadIdxPair(*paths[2], *paths[3], 0);
  if (!test.ok()) return test.status();
  data.train = std::move(*train);
  data.test = std::move(*test);
  return data;
}

}  // namespace ddp
