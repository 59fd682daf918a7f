// Tests for hostlist expansion and compression; expected values follow
// Slurm's hostlist.c and `scontrol show hostlistsorted`.
#include "common/hostlist.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace gm {
namespace {

using Hosts = std::vector<std::string>;

Hosts Expand(const std::string& expr) {
  auto r = ExpandHostlist(expr);
  EXPECT_TRUE(r.ok()) << expr << ": " << r.status().ToString();
  return r.ok() ? *r : Hosts{};
}

TEST(ExpandHostlist, RangesAndListsInBrackets) {
  EXPECT_EQ(Expand("gpu[01-04,07]"), (Hosts{"gpu01", "gpu02", "gpu03", "gpu04", "gpu07"}));
}

TEST(ExpandHostlist, CommaSeparatedItems) {
  EXPECT_EQ(Expand("n1,n[3-5]"), (Hosts{"n1", "n3", "n4", "n5"}));
  EXPECT_EQ(Expand("login"), (Hosts{"login"}));
  EXPECT_EQ(Expand("n1 n2"), (Hosts{"n1", "n2"}));  // Slurm also splits on blanks
}

TEST(ExpandHostlist, CartesianProductLeftGroupOutermost) {
  EXPECT_EQ(Expand("a[1-2]b[3-4]"), (Hosts{"a1b3", "a1b4", "a2b3", "a2b4"}));
  EXPECT_EQ(Expand("rack[1-2]-n[1-2]-ib"), (Hosts{"rack1-n1-ib", "rack1-n2-ib", "rack2-n1-ib", "rack2-n2-ib"}));
}

TEST(ExpandHostlist, WidthComesFromTheLowBound) {
  EXPECT_EQ(Expand("n[8-10]"), (Hosts{"n8", "n9", "n10"}));
  EXPECT_EQ(Expand("n[08-10]"), (Hosts{"n08", "n09", "n10"}));
  EXPECT_EQ(Expand("n[098-101]"), (Hosts{"n098", "n099", "n100", "n101"}));
}

TEST(ExpandHostlist, OrderAndDuplicatesAreKept) {
  EXPECT_EQ(Expand("n2,n1,n1"), (Hosts{"n2", "n1", "n1"}));
  EXPECT_EQ(Expand("n[3,1,1]"), (Hosts{"n3", "n1", "n1"}));
}

TEST(ExpandHostlist, EmptyPrefixAndEmptyItems) {
  EXPECT_EQ(Expand("[1-3]"), (Hosts{"1", "2", "3"}));
  EXPECT_EQ(Expand(""), Hosts{});
  EXPECT_EQ(Expand("n1,,n2,"), (Hosts{"n1", "n2"}));
}

TEST(ExpandHostlist, MalformedExpressionsAreRejected) {
  for (const char* bad : {"n[1-3", "n1-3]", "n[[1-2]]", "n[]", "n[a-b]", "n[1-]", "n[-1]",
                          "n[1,]", "n[1-2-3]", "n[1]]"}) {
    auto r = ExpandHostlist(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
  }
}

TEST(ExpandHostlist, ReversedRangeNamesTheRange) {
  auto r = ExpandHostlist("n[5-3]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid hostlist 'n[5-3]': reversed range '5-3'");
}

TEST(ExpandHostlist, ExpansionsAreCapped) {
  EXPECT_FALSE(ExpandHostlist("n[0-1000000]").ok());           // 1,000,001 hosts
  EXPECT_FALSE(ExpandHostlist("a[0-999]b[0-9999]").ok());      // 10,000,000 by product
  EXPECT_FALSE(ExpandHostlist("n[0-999999],x[1-2]").ok());    // over the cap in total
  EXPECT_FALSE(ExpandHostlist("n[0-99999999999999999999]").ok());
  auto big = ExpandHostlist("a[0-999]b[0-99]");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->size(), 100000u);
  EXPECT_EQ(big->back(), "a999b99");
}

TEST(CompressHostlist, MergesRunsWithPadding) {
  EXPECT_EQ(CompressHostlist({"gpu01", "gpu02", "gpu03", "gpu04", "gpu07"}), "gpu[01-04,07]");
}

TEST(CompressHostlist, SortsLikeHostlistSorted) {
  EXPECT_EQ(CompressHostlist({"h003", "h002", "h001"}), "h[001-003]");  // scontrol(1) example
  EXPECT_EQ(CompressHostlist({"n10", "n2", "n1"}), "n[1-2,10]");
}

TEST(CompressHostlist, DropsDuplicates) {
  EXPECT_EQ(CompressHostlist({"n3", "n1", "n2", "n2", "n1"}), "n[1-3]");
}

TEST(CompressHostlist, SingleHostsAndPrefixes) {
  EXPECT_EQ(CompressHostlist({"n5"}), "n5");
  EXPECT_EQ(CompressHostlist({"n1", "login", "gpu1", "n2"}), "gpu1,login,n[1-2]");
  EXPECT_EQ(CompressHostlist({"a1b3", "a1b4", "a2b3"}), "a1b[3-4],a2b3");
  EXPECT_EQ(CompressHostlist({}), "");
}

TEST(CompressHostlist, PaddingDecidesWhatMerges) {
  EXPECT_EQ(CompressHostlist({"n9", "n10"}), "n[9-10]");
  EXPECT_EQ(CompressHostlist({"n09", "n10"}), "n[09-10]");
  EXPECT_EQ(CompressHostlist({"n8", "n09"}), "n[8,09]");
  EXPECT_EQ(CompressHostlist({"n1", "n01"}), "n[1,01]");
  // As libslurm 22.05's hostlist_uniq + hostlist_ranged_string give them.
  EXPECT_EQ(CompressHostlist({"n1", "n01", "n10", "n2"}), "n[1-2,01,10]");
  EXPECT_EQ(CompressHostlist({"x01", "x1", "x001", "x2", "x10", "x100"}), "x[1-2,01,10,001,100]");
  EXPECT_EQ(CompressHostlist({"n0", "n00", "n000", "n1"}), "n[0-1,00,000]");
}

TEST(CompressHostlist, PrefixesSortNaturally) {
  EXPECT_EQ(CompressHostlist({"rack10-n1", "rack2-n1"}), "rack2-n1,rack10-n1");
}

TEST(HostnameLess, OrdersByPrefixThenWidthThenNumber) {
  EXPECT_TRUE(HostnameLess("n9", "n09"));
  EXPECT_TRUE(HostnameLess("n09", "n10"));
  EXPECT_TRUE(HostnameLess("n10", "n010"));
  EXPECT_TRUE(HostnameLess("n2", "n01"));
  EXPECT_TRUE(HostnameLess("n", "n1"));
  EXPECT_TRUE(HostnameLess("a2", "b1"));
  EXPECT_FALSE(HostnameLess("n1", "n1"));
}

// Random names over a few prefixes and widths, some padded, some not.
Hosts RandomHosts(std::mt19937& rng) {
  static const char* kPrefixes[] = {"n", "gpu", "rack1-n", "rack10-n", "login", "x"};
  std::uniform_int_distribution<int> count(0, 60), prefix(0, 5), num(0, 130), width(0, 3);
  Hosts hosts;
  int n = count(rng);
  for (int i = 0; i < n; ++i) {
    std::string p = kPrefixes[prefix(rng)];
    if (p == "login") {
      hosts.push_back(p);
      continue;
    }
    std::string digits = std::to_string(num(rng));
    size_t w = static_cast<size_t>(width(rng));
    if (digits.size() < w) digits.insert(0, w - digits.size(), '0');
    hosts.push_back(p + digits);
  }
  return hosts;
}

TEST(CompressHostlist, RoundTripIsSortedUniqueInput) {
  std::mt19937 rng(20240611);
  for (int round = 0; round < 2000; ++round) {
    Hosts hosts = RandomHosts(rng);
    Hosts expected = hosts;
    std::sort(expected.begin(), expected.end(), HostnameLess);
    expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
    std::string compressed = CompressHostlist(hosts);
    auto expanded = ExpandHostlist(compressed);
    ASSERT_TRUE(expanded.ok()) << compressed;
    ASSERT_EQ(*expanded, expected) << "compressed: " << compressed;
    EXPECT_EQ(CompressHostlist(*expanded), compressed);  // compressing is idempotent
  }
}

TEST(CompressHostlist, ExpandedExpressionsCompressBack) {
  for (const char* expr : {"gpu[01-04,07]", "n[1-3,5,9-10]", "login,n[01-10]", "a1b[3-4],a2b[3-4]"})
    EXPECT_EQ(CompressHostlist(Expand(expr)), expr);
}

}  // namespace
}  // namespace gm

namespace gm {
namespace {

TEST(CountHostlist, CountsWithoutExpanding) {
  EXPECT_EQ(*CountHostlist("gpu[01-04,07]"), 5u);
  EXPECT_EQ(*CountHostlist("a[1-2]b[3-4],login"), 5u);
  EXPECT_EQ(*CountHostlist(""), 0u);
  // Beyond what ExpandHostlist would build, still counted.
  EXPECT_EQ(*CountHostlist("n[1-999999]x[1-999999]"), 999999ull * 999999ull);
  EXPECT_FALSE(ExpandHostlist("n[1-999999]x[1-999999]").ok());
  EXPECT_FALSE(CountHostlist("n[5-3]").ok());
  EXPECT_FALSE(CountHostlist("n[1-2").ok());
}

}  // namespace
}  // namespace gm
