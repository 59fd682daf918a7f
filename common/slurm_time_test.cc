// Tests for Slurm time limits, squeue durations and memory sizes; expected
// values come from sbatch(1), squeue(1) and Slurm's parse_time.c/proc_args.c.
#include "common/slurm_time.h"

#include <gtest/gtest.h>

namespace gm {
namespace {

int64_t Secs(const std::string& s) {
  auto r = ParseTimeLimit(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  if (!r.ok() || !r->has_value()) return -1;
  return **r;
}

bool Unlimited(const std::string& s) {
  auto r = ParseTimeLimit(s);
  return r.ok() && !r->has_value();
}

TEST(ParseTimeLimit, EveryDocumentedForm) {
  EXPECT_EQ(Secs("10"), 600);                                // minutes
  EXPECT_EQ(Secs("5:00"), 300);                              // minutes:seconds
  EXPECT_EQ(Secs("2:00:00"), 7200);                          // hours:minutes:seconds
  EXPECT_EQ(Secs("1-2"), 86400 + 2 * 3600);                  // days-hours
  EXPECT_EQ(Secs("1-2:30"), 86400 + 2 * 3600 + 30 * 60);     // days-hours:minutes
  EXPECT_EQ(Secs("3-00:00:00"), 3 * 86400);                  // days-hours:minutes:seconds
}

TEST(ParseTimeLimit, SecondsRoundUpToTheNextMinute) {
  EXPECT_EQ(Secs("0:30"), 60);
  EXPECT_EQ(Secs("1:00:01"), 3660);
  EXPECT_EQ(Secs("5:01"), 360);
  EXPECT_EQ(Secs("1-2:30:15"), 86400 + 2 * 3600 + 31 * 60);
  EXPECT_EQ(Secs("0:0:1"), 60);
}

TEST(ParseTimeLimit, FieldsAreNotRangeChecked) {
  EXPECT_EQ(Secs("90"), 90 * 60);
  EXPECT_EQ(Secs("1:75"), 180);  // 135 s rounds up to 3 minutes
  EXPECT_EQ(Secs("48:00:00"), 48 * 3600);
}

TEST(ParseTimeLimit, UnlimitedSpellings) {
  EXPECT_TRUE(Unlimited("UNLIMITED"));
  EXPECT_TRUE(Unlimited("unlimited"));
  EXPECT_TRUE(Unlimited("INFINITE"));
  EXPECT_TRUE(Unlimited("Infinite"));
  EXPECT_TRUE(Unlimited("-1"));
}

TEST(ParseTimeLimit, ZeroMeansNoLimitAsInSbatch) {
  EXPECT_TRUE(Unlimited("0"));
  EXPECT_TRUE(Unlimited("0:00"));
  EXPECT_TRUE(Unlimited("0-0:0:0"));
}

TEST(ParseTimeLimit, GarbageIsRejectedWithTheValue) {
  auto r = ParseTimeLimit("1x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "invalid time limit '1x'");
  for (const char* bad : {"", "abc", "1:2:3:4", "-5", "1-", "-", ":30", "1::2", "1.5", "1-2-3",
                          "1-1:2:3:4", " 10", "10 ", "1234567890"}) {
    EXPECT_FALSE(ParseTimeLimit(bad).ok()) << "'" << bad << "'";
  }
}

TEST(FormatDuration, SqueueShapes) {
  EXPECT_EQ(FormatDuration(0), "0:00");
  EXPECT_EQ(FormatDuration(59), "0:59");
  EXPECT_EQ(FormatDuration(303), "5:03");
  EXPECT_EQ(FormatDuration(3600), "1:00:00");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(86399), "23:59:59");
  EXPECT_EQ(FormatDuration(86400), "1-00:00:00");
  EXPECT_EQ(FormatDuration(93784), "1-02:03:04");
  EXPECT_EQ(FormatDuration(12 * 86400 + 5), "12-00:00:05");
  EXPECT_EQ(FormatDuration(-1), "INVALID");
}

TEST(FormatTimeLimit, UnlimitedAndLimited) {
  EXPECT_EQ(FormatTimeLimit(std::nullopt), "UNLIMITED");
  EXPECT_EQ(FormatTimeLimit(600), "10:00");
  EXPECT_EQ(FormatTimeLimit(2 * 86400), "2-00:00:00");
}

TEST(FormatTimeLimit, RoundTripsParsedLimits) {
  EXPECT_EQ(FormatTimeLimit(*ParseTimeLimit("1-02:03")), "1-02:03:00");
  EXPECT_EQ(FormatTimeLimit(*ParseTimeLimit("infinite")), "UNLIMITED");
}

int64_t Mb(const std::string& s) {
  auto r = ParseMemoryMb(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}

TEST(ParseMemoryMb, PlainNumbersAreMegabytes) {
  EXPECT_EQ(Mb("100"), 100);
  EXPECT_EQ(Mb("0"), 0);  // --mem=0: all of each node's memory
}

TEST(ParseMemoryMb, SuffixesInAnyCase) {
  EXPECT_EQ(Mb("512M"), 512);
  EXPECT_EQ(Mb("512m"), 512);
  EXPECT_EQ(Mb("2G"), 2048);
  EXPECT_EQ(Mb("2g"), 2048);
  EXPECT_EQ(Mb("1T"), 1024 * 1024);
  EXPECT_EQ(Mb("10GB"), 10 * 1024);
  EXPECT_EQ(Mb("10gb"), 10 * 1024);
}

TEST(ParseMemoryMb, KilobytesRoundUpToWholeMegabytes) {
  EXPECT_EQ(Mb("1K"), 1);
  EXPECT_EQ(Mb("1024k"), 1);
  EXPECT_EQ(Mb("1025K"), 2);
  EXPECT_EQ(Mb("0K"), 0);
}

TEST(ParseMemoryMb, GarbageIsRejected) {
  auto r = ParseMemoryMb("10X");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid memory size '10X'");
  for (const char* bad : {"", "G", "1.5G", "10GiB", "-1", "10 G", "10B", "ten"})
    EXPECT_FALSE(ParseMemoryMb(bad).ok()) << "'" << bad << "'";
}

}  // namespace
}  // namespace gm
