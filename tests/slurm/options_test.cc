// gm's getopt_long-alike (cli/options.h), as Slurm's commands parse options.
#include "cli/options.h"

#include <gtest/gtest.h>

namespace gm::cli {
namespace {

const std::vector<OptSpec> kSpecs = {
    {'j', "jobs", true, "IDS", "jobs"},     {'h', "noheader", false, "", "no header"},
    {0, "start", false, "", "start"},       {'t', "states", true, "STATES", "states"},
    {0, "me", false, "", "me"},             {'o', "format", true, "FORMAT", "format"},
    {'O', "Format", true, "FIELDS", "Format"}};

std::vector<std::string> Names(const ParsedOpts& p) {
  std::vector<std::string> out;
  for (const auto& [s, v] : p.options) out.push_back(std::string(s->long_name) + "=" + v);
  return out;
}

TEST(Options, ShortLongAttachedAndSeparate) {
  auto p = ParseOptions({"-j5", "-j", "6", "--jobs=7", "--jobs", "8", "-h", "--me"}, kSpecs);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"jobs=5", "jobs=6", "jobs=7", "jobs=8", "noheader=", "me="}));
}

TEST(Options, BundledFlagsThenAValue) {
  auto p = ParseOptions({"-hj9"}, kSpecs);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"noheader=", "jobs=9"}));
}

TEST(Options, UniquePrefixesAndCaseMatters) {
  auto p = ParseOptions({"--form=%i", "--Form=jobid", "--sta"}, kSpecs);
  ASSERT_FALSE(p.ok());  // --sta is --start or --states
  EXPECT_EQ(p.status().message(), "option '--sta' is ambiguous; possibilities: '--start' '--states'");
  p = ParseOptions({"--form=%i", "--Form=jobid", "--star"}, kSpecs);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"format=%i", "Format=jobid", "start="}));
}

TEST(Options, GetoptMessages) {
  EXPECT_EQ(ParseOptions({"--bogus"}, kSpecs).status().message(), "unrecognized option '--bogus'");
  EXPECT_EQ(ParseOptions({"-z"}, kSpecs).status().message(), "invalid option -- 'z'");
  EXPECT_EQ(ParseOptions({"--jobs"}, kSpecs).status().message(), "option '--jobs' requires an argument");
  EXPECT_EQ(ParseOptions({"-j"}, kSpecs).status().message(), "option requires an argument -- 'j'");
  EXPECT_EQ(ParseOptions({"--me=x"}, kSpecs).status().message(), "option '--me' doesn't allow an argument");
}

TEST(Options, OperandsAnywhereAndAfterDoubleDash) {
  auto p = ParseOptions({"12", "-h", "13", "--", "-14"}, kSpecs);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->operands, (std::vector<std::string>{"12", "13", "-14"}));
}

TEST(Options, HelpListsEveryOption) {
  std::string help = OptionHelp("gm x [OPTIONS]", "Does x.", kSpecs);
  EXPECT_EQ(help.rfind("Usage: gm x [OPTIONS]\n\nDoes x.\n", 0), 0u);
  for (const auto& s : kSpecs) EXPECT_NE(help.find(std::string("--") + s.long_name), std::string::npos);
  EXPECT_NE(help.find("  -j, --jobs=IDS"), std::string::npos);
  EXPECT_NE(help.find("      --me "), std::string::npos);
}

}  // namespace
}  // namespace gm::cli
