// Tests of exact token parsing and formatting.
#include "common/money.h"

#include <gtest/gtest.h>

namespace gm {
namespace {

TEST(MoneyTest, ParsesExactly) {
  EXPECT_EQ(*ParseTokens("12.5", "x"), 12'500'000);
  EXPECT_EQ(*ParseTokens("0.000001", "x"), 1);
  EXPECT_EQ(*ParseTokens("3", "x"), 3'000'000);
  // 0.1 + 0.2 is not 0.3 in floating point; here it is exact.
  EXPECT_EQ(*ParseTokens("0.1", "x") + *ParseTokens("0.2", "x"), *ParseTokens("0.3", "x"));
}

TEST(MoneyTest, RejectsBadInputNamingIt) {
  for (const char* bad : {"", "-1", "1.2345678", "abc", "1e3", ".", "1.2.3", "1.", ".5"}) {
    auto r = ParseTokens(bad, "--price");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--price"), std::string::npos);
  }
  EXPECT_FALSE(ParseTokens("99999999999999999999", "x").ok());
}

TEST(MoneyTest, Formats) {
  EXPECT_EQ(FormatTokens(12'500'000), "12.500000");
  EXPECT_EQ(FormatTokens(-1), "-0.000001");
  EXPECT_EQ(FormatTokens(0), "0.000000");
  EXPECT_EQ(FormatTokens(INT64_MIN), "-9223372036854.775808");
}

}  // namespace
}  // namespace gm
