// Tests for sbatch filename patterns; expected names follow the "filename
// pattern" section of sbatch(1) and Slurm's fname.c.
#include "common/output_pattern.h"

#include <gtest/gtest.h>

namespace gm {
namespace {

OutputPatternVars Job128() {
  OutputPatternVars v;
  v.job_id = 128;
  v.job_name = "train";
  v.user = "alice";
  v.node = "gpu07";
  return v;
}

OutputPatternVars ArrayTask() {
  OutputPatternVars v = Job128();
  v.job_id = 107;
  v.array_job_id = 100;
  v.array_task_id = 7;
  return v;
}

TEST(ExpandOutputPattern, JobIdNameUserNode) {
  EXPECT_EQ(ExpandOutputPattern("slurm-%j.out", Job128()), "slurm-128.out");
  EXPECT_EQ(ExpandOutputPattern("%x-%u-%N.log", Job128()), "train-alice-gpu07.log");
  EXPECT_EQ(ExpandOutputPattern("logs/%x_%j.txt", Job128()), "logs/train_128.txt");
}

TEST(ExpandOutputPattern, ZeroPaddingFromTheManPage) {
  EXPECT_EQ(ExpandOutputPattern("job%4j.out", Job128()), "job0128.out");
  EXPECT_EQ(ExpandOutputPattern("job%2j-%2t.out", Job128()), "job128-00.out");
  EXPECT_EQ(ExpandOutputPattern("%3a", ArrayTask()), "007");
}

TEST(ExpandOutputPattern, PaddingIsCappedAtTen) {
  EXPECT_EQ(ExpandOutputPattern("%12j", Job128()), "0000000128");
  EXPECT_EQ(ExpandOutputPattern("%010j", Job128()), "0000000128");
}

TEST(ExpandOutputPattern, PaddingIgnoredForText) {
  EXPECT_EQ(ExpandOutputPattern("%5x.%8N.%3u", Job128()), "train.gpu07.alice");
}

TEST(ExpandOutputPattern, ArrayMasterAndTask) {
  EXPECT_EQ(ExpandOutputPattern("slurm-%A_%a.out", ArrayTask()), "slurm-100_7.out");
  EXPECT_EQ(ExpandOutputPattern("%j", ArrayTask()), "107");
}

TEST(ExpandOutputPattern, NonArrayJobsPrintSlurmsNoVal) {
  EXPECT_EQ(ExpandOutputPattern("slurm-%A_%a.out", Job128()), "slurm-128_4294967294.out");
}

TEST(ExpandOutputPattern, PercentPercentIsALiteralPercent) {
  EXPECT_EQ(ExpandOutputPattern("%%j", Job128()), "%j");
  EXPECT_EQ(ExpandOutputPattern("100%%-%j", Job128()), "100%-128");
  EXPECT_EQ(ExpandOutputPattern("a%", Job128()), "a%");
}

TEST(ExpandOutputPattern, BatchStepTaskAndNode) {
  EXPECT_EQ(ExpandOutputPattern("%J", Job128()), "128.4294967291");
  EXPECT_EQ(ExpandOutputPattern("%s", Job128()), "4294967291");
  EXPECT_EQ(ExpandOutputPattern("%n-%t", Job128()), "0-0");
}

TEST(ExpandOutputPattern, UnknownLettersStayAsSlurmLeavesThem) {
  EXPECT_EQ(ExpandOutputPattern("out%q.txt", Job128()), "out%q.txt");
  EXPECT_EQ(ExpandOutputPattern("out%12q.txt", Job128()), "out2q.txt");
}

TEST(ExpandOutputPattern, BackslashDisablesExpansion) {
  EXPECT_EQ(ExpandOutputPattern("slurm\\-%j.out", Job128()), "slurm-%j.out");
  EXPECT_EQ(ExpandOutputPattern("a\\\\b%j", Job128()), "a\\b%j");
}

TEST(DefaultOutputPattern, PlainAndArray) {
  EXPECT_EQ(DefaultOutputPattern(false), "slurm-%j.out");
  EXPECT_EQ(DefaultOutputPattern(true), "slurm-%A_%a.out");
  EXPECT_EQ(ExpandOutputPattern(DefaultOutputPattern(true), ArrayTask()), "slurm-100_7.out");
}

}  // namespace
}  // namespace gm
