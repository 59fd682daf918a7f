// Tests of --begin resolution against a fixed clock.
#include "scheduler/begin_time.h"

#include <gtest/gtest.h>

namespace gm::sched {
namespace {

// 2026-11-22T10:00:00Z
constexpr int64_t kNow = 1795341600000;

TEST(BeginTimeTest, Relative) {
  EXPECT_EQ(*ResolveBeginTime("now", kNow, 0), kNow);
  EXPECT_EQ(*ResolveBeginTime("now+60", kNow, 0), kNow + 60'000);
  EXPECT_EQ(*ResolveBeginTime("now+2hours", kNow, 0), kNow + 7'200'000);
  EXPECT_EQ(*ResolveBeginTime("now+1days", kNow, 0), kNow + 86'400'000);
}

TEST(BeginTimeTest, ClockTimesRollToTomorrowWhenPast) {
  EXPECT_EQ(*ResolveBeginTime("16:00", kNow, 0), kNow + 6 * 3'600'000);
  EXPECT_EQ(*ResolveBeginTime("09:00", kNow, 0), kNow + 23 * 3'600'000);
  EXPECT_EQ(*ResolveBeginTime("teatime", kNow, 0), kNow + 6 * 3'600'000);
  EXPECT_EQ(*ResolveBeginTime("midnight", kNow, 0), kNow + 14 * 3'600'000);
  // In UTC+2 it is 12:00 local: noon has just passed, so it is tomorrow's.
  EXPECT_EQ(*ResolveBeginTime("noon", kNow, 7200), kNow + 24 * 3'600'000);
}

TEST(BeginTimeTest, AbsoluteDates) {
  EXPECT_EQ(*ResolveBeginTime("2026-11-22T10:00:00", kNow, 0), kNow);
  EXPECT_EQ(*ResolveBeginTime("2026-11-23", kNow, 0), kNow + 14 * 3'600'000);
  EXPECT_EQ(*ResolveBeginTime("2026-11-22T12:00", kNow, 7200), kNow);
}

TEST(BeginTimeTest, GarbageIsRefusedNamingIt) {
  for (const char* bad : {"soon", "now+5fortnights", "25:00", "2026-13-01", "2026-11-22X"}) {
    auto r = ResolveBeginTime(bad, kNow, 0);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos);
  }
}

}  // namespace
}  // namespace gm::sched
