// Unit tests of ddp_train's parts: the arithmetic (against finite differences
// and a naive reference), the row-major-to-cuBLAS mapping, sharding, the RNG,
// checkpoint encoding and corruption, IDX parsing and option parsing.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "checkpoint.h"
#include "cpu_mlp.h"
#include "gemm_mapping.h"
#include "idx_reader.h"
#include "mlp.h"
#include "options.h"
#include "rng.h"
#include "trainer.h"

namespace ddp {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ddp_train_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<float> RandomInputs(int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(size_t(n) * kLayerWidths[0]);
  for (auto& v : x) v = rng.Below(3) == 0 ? 0.0f : 0.5f + 0.5f * rng.UniformSymmetric();  // zeros like background
  return x;
}

// ---- arithmetic ----

// Forward pass in double with plain loops: what cpu_mlp must compute.
std::vector<double> ReferenceLogits(const std::vector<float>& p, const float* x) {
  std::vector<double> in(x, x + kLayerWidths[0]);
  for (int l = 0; l < kNumLayers; ++l) {
    const int k = kLayerWidths[l], m = kLayerWidths[l + 1];
    std::vector<double> out(m);
    for (int j = 0; j < m; ++j) {
      double s = p[kOffsets.bias[l] + j];
      for (int q = 0; q < k; ++q) s += in[q] * p[kOffsets.weights[l] + int64_t(q) * m + j];
      out[j] = (l + 1 < kNumLayers && s < 0) ? 0 : s;
    }
    in = std::move(out);
  }
  return in;
}

TEST(CpuMlp, ForwardMatchesNaiveReference) {
  const auto params = InitialParameters(7);
  const auto x = RandomInputs(5, 3);
  CpuWorkspace ws;
  const float* logits = Forward(params.data(), x.data(), 5, &ws);
  for (int i = 0; i < 5; ++i) {
    const auto ref = ReferenceLogits(params, x.data() + i * kLayerWidths[0]);
    for (int c = 0; c < kNumOutputs; ++c) EXPECT_NEAR(logits[i * kNumOutputs + c], ref[c], 1e-4) << i << "," << c;
  }
}

double LossOf(const std::vector<float>& params, const std::vector<float>& x, const std::vector<int32_t>& y) {
  std::vector<float> grads(params.size(), 0.0f);
  CpuWorkspace ws;
  return ForwardBackward(params.data(), x.data(), y.data(), int(y.size()), grads.data(), &ws);
}

TEST(CpuMlp, GradientMatchesFiniteDifferences) {
  const int n = 4;
  auto params = InitialParameters(11);
  Rng rng(5);
  for (auto& v : params) v += 0.01f * rng.UniformSymmetric();  // non-zero biases too
  const auto x = RandomInputs(n, 9);
  const std::vector<int32_t> y = {3, 0, 9, 5};
  std::vector<float> grads(params.size(), 0.0f);
  CpuWorkspace ws;
  ForwardBackward(params.data(), x.data(), y.data(), n, grads.data(), &ws);

  // Coordinates in every block (weights and biases of each layer), picked at random.
  int checked = 0, bad = 0;
  for (int l = 0; l < kNumLayers; ++l) {
    for (int64_t block : {kOffsets.weights[l], kOffsets.bias[l]}) {
      const int64_t size = (block == kOffsets.bias[l] ? 1 : kLayerWidths[l]) * int64_t(kLayerWidths[l + 1]);
      for (int t = 0; t < 12; ++t) {
        const int64_t i = block + int64_t(rng.Below(uint64_t(size)));
        const float saved = params[i];
        const float eps = 1e-2f;
        params[i] = saved + eps;
        const double up = LossOf(params, x, y);
        params[i] = saved - eps;
        const double down = LossOf(params, x, y);
        params[i] = saved;
        const double numeric = (up - down) / (2.0 * eps);
        ++checked;
        if (std::fabs(numeric - grads[i]) > 2e-3 + 2e-2 * std::fabs(grads[i])) {
          ++bad;
          ADD_FAILURE() << "parameter " << i << " (layer " << l << "): analytic " << grads[i] << ", numeric " << numeric;
        }
      }
    }
  }
  EXPECT_EQ(checked, 72);
  EXPECT_EQ(bad, 0);
}

// The identity data parallelism rests on: the gradient of a batch is the sum
// of the gradients of its shards.
TEST(CpuMlp, ShardGradientsSumToBatchGradient) {
  const int n = 9;
  const auto params = InitialParameters(3);
  const auto x = RandomInputs(n, 4);
  std::vector<int32_t> y(n);
  for (int i = 0; i < n; ++i) y[i] = i % 10;
  CpuWorkspace ws;
  std::vector<float> whole(params.size(), 0.0f), parts(params.size(), 0.0f);
  const double loss_whole = ForwardBackward(params.data(), x.data(), y.data(), n, whole.data(), &ws);
  double loss_parts = 0;
  for (int r = 0; r < 4; ++r) {
    const auto [first, count] = ShardOf(n, r, 4);
    std::vector<float> g(params.size(), 0.0f);
    if (count > 0) {
      loss_parts += ForwardBackward(params.data(), x.data() + first * kLayerWidths[0], y.data() + first, int(count),
                                    g.data(), &ws);
    }
    for (size_t i = 0; i < g.size(); ++i) parts[i] += g[i];
  }
  EXPECT_NEAR(loss_whole, loss_parts, 1e-9 * std::fabs(loss_whole));
  double max_diff = 0;
  for (size_t i = 0; i < whole.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(whole[i] - parts[i])));
  EXPECT_LT(max_diff, 1e-5);
}

TEST(CpuMlp, SoftmaxCrossEntropyIsStable) {
  const float logits[10] = {1000, 999, -1000, 0, 0, 0, 0, 0, 0, 0};
  float d[10];
  const float loss = SoftmaxCrossEntropy(logits, 10, 1, d);
  EXPECT_NEAR(loss, std::log1p(std::exp(-1.0)) + 1.0, 1e-5);
  float sum = 0;
  for (float v : d) sum += v;
  EXPECT_NEAR(sum, 0.0f, 1e-6);
  EXPECT_LT(d[1], 0.0f);
  EXPECT_EQ(ArgMax(logits, 10), 0);
}

TEST(CpuMlp, EvaluateCountsCorrectPredictions) {
  const auto params = InitialParameters(1);
  const auto x = RandomInputs(300, 2);
  CpuWorkspace ws;
  const float* logits = Forward(params.data(), x.data(), 300, &ws);
  std::vector<int32_t> y(300);
  for (int i = 0; i < 300; ++i) y[i] = i % 2 == 0 ? ArgMax(logits + i * 10, 10) : (ArgMax(logits + i * 10, 10) + 1) % 10;
  const EvalSums sums = EvaluateCpu(params.data(), x.data(), y.data(), 300, &ws);
  EXPECT_EQ(sums.count, 300);
  EXPECT_EQ(sums.correct, 150);
  EXPECT_GT(sums.loss_sum, 0);
}

TEST(Mlp, InitialParametersAreSeededAndBounded) {
  const auto a = InitialParameters(42), b = InitialParameters(42), c = InitialParameters(43);
  ASSERT_EQ(a.size(), size_t(kOffsets.total));
  EXPECT_EQ(kOffsets.total, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (int l = 0; l < kNumLayers; ++l) {
    const float limit = std::sqrt(6.0f / kLayerWidths[l]);
    for (int64_t i = kOffsets.weights[l]; i < kOffsets.bias[l]; ++i) ASSERT_LE(std::fabs(a[i]), limit);
    for (int j = 0; j < kLayerWidths[l + 1]; ++j) ASSERT_EQ(a[kOffsets.bias[l] + j], 0.0f);
  }
}

// ---- the cuBLAS mapping, checked with a column-major GEMM written like BLAS's ----

void ColumnMajorReference(bool ta, bool tb, int m, int n, int k, const float* A, int lda, const float* B, int ldb,
                          float* C, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < k; ++p) {
        const double a = ta ? A[p + int64_t(i) * lda] : A[i + int64_t(p) * lda];
        const double b = tb ? B[j + int64_t(p) * ldb] : B[p + int64_t(j) * ldb];
        s += a * b;
      }
      C[i + int64_t(j) * ldc] = float(s);
    }
}

TEST(GemmMapping, RowMajorProductsThroughColumnMajorGemm) {
  const int M = 5, N = 3, K = 7;
  Rng rng(1);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      std::vector<float> A(M * K), B(K * N), C(M * N, -1.0f);
      for (auto& v : A) v = rng.UniformSymmetric();
      for (auto& v : B) v = rng.UniformSymmetric();
      // op(A)[i][p] and op(B)[p][j] as the row-major storage says.
      auto opA = [&](int i, int p) { return ta ? A[p * M + i] : A[i * K + p]; };
      auto opB = [&](int p, int j) { return tb ? B[j * K + p] : B[p * N + j]; };
      const ColumnMajorGemm g = RowMajorGemm(ta, tb, M, N, K);
      ASSERT_TRUE(g.swap_operands);
      ColumnMajorReference(g.trans_first, g.trans_second, g.m, g.n, g.k, B.data(), g.ld_first, A.data(), g.ld_second,
                           C.data(), g.ldc);
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
          double want = 0;
          for (int p = 0; p < K; ++p) want += double(opA(i, p)) * opB(p, j);
          EXPECT_NEAR(C[i * N + j], want, 1e-5) << "ta=" << ta << " tb=" << tb << " at " << i << "," << j;
        }
    }
}

// ---- sharding and the batch order ----

TEST(Sharding, ShardsPartitionEveryBatch) {
  for (int ranks = 1; ranks <= 7; ++ranks)
    for (int64_t batch = 0; batch <= 300; ++batch) {
      int64_t next = 0, smallest = batch, largest = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto [first, count] = ShardOf(batch, r, ranks);
        ASSERT_EQ(first, next);
        next += count;
        smallest = std::min(smallest, count);
        largest = std::max(largest, count);
      }
      ASSERT_EQ(next, batch);
      ASSERT_LE(largest - smallest, 1);
    }
}

TEST(Rng, StateRoundTripContinuesTheStream) {
  Rng a(99);
  for (int i = 0; i < 10; ++i) a.Next();
  Rng b = Rng::FromState(a.state());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.Next(), b.Next());
  EXPECT_NE(Rng(1).Next(), Rng(2).Next());
}

TEST(Rng, ShuffleIsAPermutationAndBelowStaysInRange) {
  Rng rng(3);
  std::vector<int32_t> v(1000);
  std::iota(v.begin(), v.end(), 0);
  rng.Shuffle(&v);
  EXPECT_EQ(std::set<int32_t>(v.begin(), v.end()).size(), 1000u);
  EXPECT_NE(v[0] + 1, v[1]);
  for (int i = 0; i < 10000; ++i) ASSERT_LT(rng.Below(7), 7u);
  for (int i = 0; i < 10000; ++i) {
    const float u = rng.UniformSymmetric();
    ASSERT_GE(u, -1.0f);
    ASSERT_LT(u, 1.0f);
  }
}

// ---- checkpoints ----

TrainState SampleState() {
  TrainOptions o;
  o.seed = 5;
  o.global_batch = 128;
  TrainState s = FreshState(o, 6000);
  s.epochs_done = 3;
  s.steps = 141;
  s.last_train_loss = 0.5;
  s.last_test_accuracy = 0.8;
  for (size_t i = 0; i < s.velocity.size(); ++i) s.velocity[i] = float(i % 13) * 0.001f;
  return s;
}

TEST(Checkpoint, RoundTrip) {
  const TrainState s = SampleState();
  auto back = ParseCheckpoint(SerializeCheckpoint(s), "test");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->epochs_done, 3);
  EXPECT_EQ(back->seed, 5u);
  EXPECT_EQ(back->global_batch, 128);
  EXPECT_EQ(back->train_count, 6000);
  EXPECT_EQ(back->order_rng, s.order_rng);
  EXPECT_EQ(back->steps, 141);
  EXPECT_EQ(back->params, s.params);
  EXPECT_EQ(back->velocity, s.velocity);
  EXPECT_EQ(back->last_train_loss, 0.5);
}

TEST(Checkpoint, EveryDamageIsReportedAsCorruption) {
  const std::string good = SerializeCheckpoint(SampleState());
  Rng rng(8);
  std::vector<size_t> positions = {0, 7, 8, 12, 40, 100, good.size() / 2, good.size() - 5, good.size() - 1};
  for (int i = 0; i < 50; ++i) positions.push_back(rng.Below(good.size()));
  for (size_t pos : positions) {
    std::string bad = good;
    bad[pos] ^= 0x40;
    auto r = ParseCheckpoint(bad, "x.ckpt");
    ASSERT_FALSE(r.ok()) << "flip at " << pos;
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
    EXPECT_NE(r.status().message().find("x.ckpt is corrupt"), std::string::npos) << r.status().message();
  }
  for (size_t len : {size_t(0), size_t(4), size_t(20), good.size() / 3, good.size() - 1}) {
    auto r = ParseCheckpoint(good.substr(0, len), "x.ckpt");
    ASSERT_FALSE(r.ok()) << "truncated to " << len;
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
  }
  EXPECT_FALSE(ParseCheckpoint(good + "extra", "x.ckpt").ok());
}

TEST(Checkpoint, SaveIsAtomicAndReadable) {
  TempDir dir;
  EXPECT_EQ(ReadCheckpointFile(dir.path()).status().code(), Status::Code::kNotFound);
  TrainState s = SampleState();
  ASSERT_TRUE(SaveCheckpoint(dir.path(), s).ok());
  s.epochs_done = 4;
  ASSERT_TRUE(SaveCheckpoint(dir.path(), s).ok());  // replaces the first
  EXPECT_FALSE(fs::exists(CheckpointPath(dir.path()) + ".tmp"));
  auto bytes = ReadCheckpointFile(dir.path());
  ASSERT_TRUE(bytes.ok());
  auto back = ParseCheckpoint(*bytes, "f");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->epochs_done, 4);
  EXPECT_FALSE(SaveCheckpoint(dir.path() + "/missing/sub", s).ok());
}

TEST(Checkpoint, OnlyTheSameRunResumes) {
  const TrainState s = SampleState();
  TrainOptions o;
  o.seed = 5;
  o.global_batch = 128;
  EXPECT_TRUE(CheckResumable(s, o, 6000, "p").ok());
  EXPECT_FALSE(CheckResumable(s, o, 600, "p").ok());
  o.global_batch = 256;
  EXPECT_FALSE(CheckResumable(s, o, 6000, "p").ok());
}

// ---- IDX files ----

std::string Be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

void WriteFile(const std::string& path, const std::string& bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    gzwrite(f, bytes.data(), unsigned(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

std::string Images(uint32_t count, uint32_t rows, uint32_t cols, uint32_t stored) {
  std::string s = Be32(kIdxImagesMagic) + Be32(count) + Be32(rows) + Be32(cols);
  for (uint32_t i = 0; i < stored * rows * cols; ++i) s.push_back(char(i % 256));
  return s;
}

// Labels 0, 1, 2, ...; the last one is `last` when given.
std::string Labels(uint32_t count, uint32_t stored, int last = -1) {
  std::string s = Be32(kIdxLabelsMagic) + Be32(count);
  for (uint32_t i = 0; i < stored; ++i) s.push_back(char(i % 10));
  if (last >= 0 && stored > 0) s.back() = char(last);
  return s;
}

TEST(Idx, ReadsCompressedAndPlainFilesAndHonoursMaxCount) {
  TempDir dir;
  for (bool gz : {true, false}) {
    const std::string im = dir.path() + (gz ? "/i.gz" : "/i"), lb = dir.path() + (gz ? "/l.gz" : "/l");
    WriteFile(im, Images(5, 28, 28, 5), gz);
    WriteFile(lb, Labels(5, 5), gz);
    auto all = ReadIdxPair(im, lb, 0);
    ASSERT_TRUE(all.ok()) << all.status().message();
    EXPECT_EQ(all->count, 5);
    EXPECT_EQ(all->labels[3], 3);
    EXPECT_FLOAT_EQ(all->pixels[255], 1.0f);
    EXPECT_FLOAT_EQ(all->pixels[0], 0.0f);
    auto some = ReadIdxPair(im, lb, 2);
    ASSERT_TRUE(some.ok());
    EXPECT_EQ(some->count, 2);
    EXPECT_EQ(some->pixels.size(), 2u * 784);
    EXPECT_EQ(ReadIdxPair(im, lb, 100)->count, 5);
  }
}

void ExpectIdxError(const std::string& images, const std::string& labels, const std::string& fragment) {
  TempDir dir;
  WriteFile(dir.path() + "/i.gz", images, true);
  WriteFile(dir.path() + "/l.gz", labels, true);
  auto r = ReadIdxPair(dir.path() + "/i.gz", dir.path() + "/l.gz", 0);
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << fragment << "'";
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

TEST(Idx, NamesWhatIsWrong) {
  ExpectIdxError(Be32(0x12345678) + Images(1, 28, 28, 1).substr(4), Labels(1, 1), "bad magic number 0x12345678");
  ExpectIdxError(Images(1, 28, 28, 1), Images(1, 28, 28, 1), "expected 0x00000801");  // images as labels
  ExpectIdxError(Images(2, 27, 28, 2), Labels(2, 2), "27x28, expected 28x28");
  ExpectIdxError(Images(3, 28, 28, 2), Labels(3, 3), "file ends early");
  ExpectIdxError(Images(3, 28, 28, 3), Labels(3, 2), "file ends early");
  ExpectIdxError(Images(3, 28, 28, 3), Labels(2, 2), "holds 3 images but");
  ExpectIdxError(Images(3, 28, 28, 3), Labels(3, 3, 200), "label 200 at index 2 is not a class 0..9");
  ExpectIdxError("", Labels(1, 1), "file ends early");
}

TEST(Idx, GarbageThatIsNotGzipIsReadAsIsAndRejected) {
  ExpectIdxError("hello world, not an idx file", Labels(1, 1), "bad magic");
}

TEST(Idx, MissingFolderOrFileIsNamed) {
  auto r = LoadFashionMnist("/nonexistent/dir", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dir: no such directory"), std::string::npos);
  TempDir dir;
  auto r2 = LoadFashionMnist(dir.path(), 0);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("train-images-idx3-ubyte.gz nor"), std::string::npos) << r2.status().message();
}

// ---- options ----

Result<TrainOptions> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ddp_train");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseOptions(int(argv.size()), argv.data());
}

TEST(Options, DefaultsAndEveryFlag) {
  auto d = Parse({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->global_batch, 256);
  EXPECT_EQ(d->data_dir, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(d->checkpoint_dir, "");
  EXPECT_EQ(d->device, DeviceChoice::kAuto);
  auto o = Parse({"--epochs", "3", "--data=/d", "--batch", "64", "--lr", "0.1", "--momentum=0", "--seed", "9",
                  "--checkpoint-dir", "/c", "--max-train", "600", "--device", "cpu"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->epochs, 3);
  EXPECT_EQ(o->data_dir, "/d");
  EXPECT_EQ(o->global_batch, 64);
  EXPECT_FLOAT_EQ(o->learning_rate, 0.1f);
  EXPECT_EQ(o->momentum, 0.0f);
  EXPECT_EQ(o->seed, 9u);
  EXPECT_EQ(o->checkpoint_dir, "/c");
  EXPECT_EQ(o->max_train, 600);
  EXPECT_EQ(o->device, DeviceChoice::kCpu);
  EXPECT_TRUE(Parse({"--help"})->help);
}

TEST(Options, BadValuesAreNamed) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--epochs", "0"}, "--epochs: 0 is out of range"},
      {{"--epochs", "2x"}, "--epochs: '2x' is not a number"},
      {{"--batch"}, "--batch: missing value"},
      {{"--device", "gpu"}, "'gpu' is not one of cpu, cuda, auto"},
      {{"--lr", "-1"}, "--lr: -1 is out of range"},
      {{"--bogus", "1"}, "unknown option '--bogus'"},
      {{"stray"}, "unexpected argument 'stray'"},
      {{"--data="}, "--data: empty path"},
  };
  for (const auto& [args, fragment] : cases) {
    auto r = Parse(args);
    ASSERT_FALSE(r.ok()) << args[0];
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace ddp
