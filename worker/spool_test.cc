// Tests for the durable usage spool: append, ack, reopen, sequence numbers
// across restarts and threads, and crashes (a child process that appends and
// dies without closing anything).
//
// Suite names start with "spool" so that `ctest -R spool` selects them:
// gm_add_test registers tests under their GoogleTest names.
#include "worker/spool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

namespace gm::worker {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kSeed[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

class spoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gm-spool-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/usage.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static SignedRecord Record(int64_t seq, int64_t job_id = 7) {
    UsageRecord r;
    r.node_id = "n1";
    r.seq = seq;
    r.job_id = job_id;
    r.start_ms = 1000;
    r.end_ms = 2000;
    r.gpu_indices = {0};
    r.gpu_ms = 1000;
    r.result = "exited";
    auto key = SigningKey::FromSeedHex(kSeed);
    return *SignRecord(r, *key);
  }

  std::unique_ptr<UsageSpool> OpenOrDie() {
    auto s = UsageSpool::Open(path_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::vector<int64_t> UnackedSeqs(UsageSpool& s) {
    auto records = s.Unacked();
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    std::vector<int64_t> seqs;
    if (records.ok())
      for (const auto& r : *records) seqs.push_back(r.record["seq"].get<int64_t>());
    return seqs;
  }

  std::string dir_, path_;
};

TEST_F(spoolTest, AppendThenUnackedReturnsTheSignedRecordIntact) {
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  SignedRecord rec = Record(1);
  auto seq = spool->Append(rec);
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 1);
  auto unacked = spool->Unacked();
  ASSERT_TRUE(unacked.ok());
  ASSERT_EQ(unacked->size(), 1u);
  EXPECT_EQ((*unacked)[0].record, rec.record);
  EXPECT_EQ((*unacked)[0].signature, rec.signature);
  // Still verifiable after the round trip through the database.
  RecordExpectations e{"n1", true, std::nullopt, 0};
  EXPECT_TRUE(CheckRecord((*unacked)[0], SigningKey::FromSeedHex(kSeed)->PublicKeyHex(), e).ok());
}

TEST_F(spoolTest, UnackedSurvivesReopenAndAckRemoves) {
  {
    auto spool = OpenOrDie();
    ASSERT_TRUE(spool);
    for (int64_t s : {1, 2, 3}) ASSERT_TRUE(spool->Append(Record(s)).ok());
  }  // destroyed: closed
  {
    auto spool = OpenOrDie();
    ASSERT_TRUE(spool);
    EXPECT_EQ(UnackedSeqs(*spool), (std::vector<int64_t>{1, 2, 3}));
    ASSERT_TRUE(spool->Ack(2).ok());
    EXPECT_EQ(UnackedSeqs(*spool), (std::vector<int64_t>{1, 3}));
  }
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  EXPECT_EQ(UnackedSeqs(*spool), (std::vector<int64_t>{1, 3}));
}

TEST_F(spoolTest, AckIsIdempotentButUnknownSeqIsNotFound) {
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  ASSERT_TRUE(spool->Append(Record(1)).ok());
  EXPECT_TRUE(spool->Ack(1).ok());
  EXPECT_TRUE(spool->Ack(1).ok());  // the controller's answer was lost and it was acked again
  Status s = spool->Ack(5);
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("seq 5"), std::string::npos);
}

TEST_F(spoolTest, SeqIsMonotonicAcrossReopen) {
  std::vector<int64_t> seen;
  for (int round = 0; round < 3; ++round) {
    auto spool = OpenOrDie();
    ASSERT_TRUE(spool);
    for (int k = 0; k < 2; ++k) {
      auto seq = spool->NextSeq();
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
      seen.push_back(*seq);
    }
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST_F(spoolTest, AppendWithAChosenSeqRaisesNextSeq) {
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  ASSERT_TRUE(spool->Append(Record(10)).ok());
  EXPECT_EQ(*spool->NextSeq(), 11);
  ASSERT_TRUE(spool->Ack(10).ok());
  EXPECT_EQ(*spool->NextSeq(), 12);  // acking never lowers it
}

TEST_F(spoolTest, SameRecordTwiceIsANoOpADifferentOneIsRefused) {
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  ASSERT_TRUE(spool->Append(Record(4)).ok());
  auto again = spool->Append(Record(4));
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  auto other = spool->Append(Record(4, /*job_id=*/8));
  EXPECT_EQ(other.status().code(), Status::Code::kAlreadyExists);
  EXPECT_NE(other.status().message().find("seq 4"), std::string::npos);
  EXPECT_EQ(UnackedSeqs(*spool), (std::vector<int64_t>{4}));
}

TEST_F(spoolTest, RecordsWithoutAValidSeqOrWithFloatsAreRefused) {
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  SignedRecord r = Record(1);
  r.record.erase("seq");
  EXPECT_EQ(spool->Append(r).status().code(), Status::Code::kInvalidArgument);
  r.record["seq"] = 0;
  EXPECT_EQ(spool->Append(r).status().code(), Status::Code::kInvalidArgument);
  r.record["seq"] = 3;
  r.record["gpu_ms"] = 1.5;
  EXPECT_EQ(spool->Append(r).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(UnackedSeqs(*spool).empty());
}

TEST_F(spoolTest, ConcurrentNextSeqNeverRepeats) {
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  std::vector<std::vector<int64_t>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 25; ++k) {
        auto s = spool->NextSeq();
        if (s.ok()) got[t].push_back(*s);
      }
    });
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 100u);
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), 100);
}

TEST_F(spoolTest, FilesAreMode0600) {
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

// A child process appends and dies without closing the database (no
// destructor, no atexit; then also by SIGKILL); the parent must find it.
TEST_F(spoolTest, RecordAppendedByAProcessThatExitsWithoutClosingSurvives) {
  for (bool sigkill : {false, true}) {
    int64_t seq = sigkill ? 2 : 1;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto spool = UsageSpool::Open(path_);
      if (!spool.ok()) _exit(2);
      auto next = (*spool)->NextSeq();
      if (!next.ok() || *next != seq) _exit(3);
      if (!(*spool)->Append(Record(seq)).ok()) _exit(4);
      if (sigkill) kill(getpid(), SIGKILL);  // as `kill -9` of gmd right after the append
      _exit(0);                               // no destructors, no close
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (sigkill) {
      ASSERT_TRUE(WIFSIGNALED(status)) << status;
      EXPECT_EQ(WTERMSIG(status), SIGKILL);
    } else {
      ASSERT_TRUE(WIFEXITED(status)) << status;
      ASSERT_EQ(WEXITSTATUS(status), 0);
    }
  }
  auto spool = OpenOrDie();
  ASSERT_TRUE(spool);
  EXPECT_EQ(UnackedSeqs(*spool), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(*spool->NextSeq(), 3);  // the children's reservations held too
}

TEST_F(spoolTest, OpenInAMissingDirectoryOrOnAForeignFileFails) {
  auto missing = UsageSpool::Open(dir_ + "/no/such/dir/usage.db");
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kIOError) << missing.status().ToString();
  std::string junk = dir_ + "/junk.db";
  std::ofstream(junk) << std::string(4096, 'x');
  auto foreign = UsageSpool::Open(junk);
  EXPECT_FALSE(foreign.ok());
}

}  // namespace
}  // namespace gm::worker
