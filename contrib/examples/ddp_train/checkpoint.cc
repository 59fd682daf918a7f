// Checkpoint encoding and atomic file replacement.
#include "checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include "mlp.h"

namespace ddp {
namespace {

static_assert(std::endian::native == std::endian::little, "checkpoints are written little-endian");

constexpr char kMagic[8] = {'D', 'D', 'P', 'T', 'R', 'A', 'I', 'N'};

template <typename T>
void Put(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads fields in order from the bytes, remembering whether any ran past the end.
class Reader {
 public:
  Reader(const std::string& bytes, size_t end) : bytes_(bytes), end_(end) {}
  template <typename T>
  T Get() {
    T v{};
    if (pos_ + sizeof v > end_) {
      short_ = true;
      return v;
    }
    std::memcpy(&v, bytes_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  void GetFloats(std::vector<float>* v, size_t n) {
    if (n > (end_ - pos_) / sizeof(float)) {
      short_ = true;
      return;
    }
    v->resize(n);
    std::memcpy(v->data(), bytes_.data() + pos_, n * sizeof(float));
    pos_ += n * sizeof(float);
  }
  bool short_read() const { return short_; }
  size_t pos() const { return pos_; }

 private:
  const std::string& bytes_;
  size_t end_;
  size_t pos_ = 0;
  bool short_ = false;
};

uint32_t Crc32(const char* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const uInt chunk = n > (1u << 30) ? (1u << 30) : static_cast<uInt>(n);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

Status WriteAll(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError("writing " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace

std::string SerializeCheckpoint(const TrainState& s) {
  std::string out;
  out.reserve(256 + 8 * s.params.size());
  out.append(kMagic, sizeof kMagic);
  Put(&out, kCheckpointVersion);
  Put(&out, uint32_t{kNumLayers});
  for (int w : kLayerWidths) Put(&out, static_cast<uint32_t>(w));
  Put(&out, s.epochs_done);
  Put(&out, s.seed);
  Put(&out, s.global_batch);
  Put(&out, s.train_count);
  for (uint64_t word : s.order_rng) Put(&out, word);
  Put(&out, s.steps);
  Put(&out, s.last_train_loss);
  Put(&out, s.last_test_accuracy);
  Put(&out, static_cast<int64_t>(s.params.size()));
  out.append(reinterpret_cast<const char*>(s.params.data()), s.params.size() * sizeof(float));
  out.append(reinterpret_cast<const char*>(s.velocity.data()), s.velocity.size() * sizeof(float));
  Put(&out, Crc32(out.data(), out.size()));
  return out;
}

Result<TrainState> ParseCheckpoint(const std::string& bytes, const std::string& origin) {
  auto corrupt = [&](const std::string& why) {
    return Status::Corruption("checkpoint " + origin + " is corrupt (" + why +
                              "); delete it to start over, or pass another --checkpoint-dir");
  };
  if (bytes.size() < sizeof kMagic + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return corrupt("not a ddp_train checkpoint: bad magic or too short, " + std::to_string(bytes.size()) + " bytes");
  }
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  if (Crc32(bytes.data(), bytes.size() - 4) != stored_crc) {
    return corrupt("checksum mismatch: the file is truncated or damaged");
  }
  Reader r(bytes, bytes.size() - 4);
  for (size_t i = 0; i < sizeof kMagic; ++i) r.Get<char>();
  if (const auto version = r.Get<uint32_t>(); version != kCheckpointVersion) {
    return corrupt("format version " + std::to_string(version) + ", this program reads version " +
                   std::to_string(kCheckpointVersion));
  }
  const auto layers = r.Get<uint32_t>();
  bool same_model = layers == kNumLayers;
  for (uint32_t l = 0; same_model && l <= layers; ++l) same_model = r.Get<uint32_t>() == uint32_t(kLayerWidths[l]);
  if (!same_model) return corrupt("it holds a different model than 784-256-128-10");
  TrainState s;
  s.epochs_done = r.Get<int32_t>();
  s.seed = r.Get<uint64_t>();
  s.global_batch = r.Get<int32_t>();
  s.train_count = r.Get<int64_t>();
  for (auto& word : s.order_rng) word = r.Get<uint64_t>();
  s.steps = r.Get<int64_t>();
  s.last_train_loss = r.Get<double>();
  s.last_test_accuracy = r.Get<double>();
  const auto n = r.Get<int64_t>();
  if (r.short_read() || n != kOffsets.total) return corrupt("parameter count " + std::to_string(n));
  r.GetFloats(&s.params, static_cast<size_t>(n));
  r.GetFloats(&s.velocity, static_cast<size_t>(n));
  if (r.short_read() || r.pos() != bytes.size() - 4) return corrupt("its length does not match its contents");
  if (s.epochs_done < 1 || s.global_batch < 1 || s.train_count < 1) return corrupt("impossible header values");
  return s;
}

std::string CheckpointPath(const std::string& dir) { return dir + "/" + kCheckpointFileName; }

Status SaveCheckpoint(const std::string& dir, const TrainState& state) {
  const std::string path = CheckpointPath(dir);
  const std::string tmp = path + ".tmp";
  const std::string bytes = SerializeCheckpoint(state);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("creating " + tmp + ": " + std::strerror(errno));
  Status s = WriteAll(fd, bytes, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Status::IOError("fsync " + tmp + ": " + std::strerror(errno));
  if (::close(fd) != 0 && s.ok()) s = Status::IOError("closing " + tmp + ": " + std::strerror(errno));
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::IOError("renaming " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  // The rename is durable only once the folder's entry is on disk.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::OK();
}

Result<std::string> ReadCheckpointFile(const std::string& dir) {
  const std::string path = CheckpointPath(dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return Status::NotFound(path);
  if (fd < 0) return Status::IOError("cannot open checkpoint " + path + ": " + std::strerror(errno));
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::IOError("cannot read checkpoint " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

}  // namespace ddp
