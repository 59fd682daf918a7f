// gm's hostlists against Slurm's own (libslurm 22.05, from libslurm-dev):
// for generated expressions gm expands exactly as slurm_hostlist_create
// does, and for generated host names gm compresses exactly as
// slurm_hostlist_uniq + slurm_hostlist_ranged_string do.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdlib>

extern "C" {
#include <slurm/slurm.h>
}

#include "common/hostlist.h"
#include "tests/slurm/hostlist_gen.h"

namespace gm {
namespace {

using Hosts = std::vector<std::string>;

// nullopt when Slurm refuses the expression.
std::optional<Hosts> SlurmExpand(const std::string& expr) {
  hostlist_t hl = slurm_hostlist_create(expr.c_str());
  if (!hl) return std::nullopt;
  Hosts out;
  while (char* h = slurm_hostlist_shift(hl)) {
    out.push_back(h);
    free(h);
  }
  slurm_hostlist_destroy(hl);
  return out;
}

// Slurm builds a job's list host by host; it is fed in sorted order, since
// Slurm's result depends on the order hosts arrive in and gm's does not.
std::string SlurmCompress(const Hosts& hosts) {
  hostlist_t hl = slurm_hostlist_create("");
  for (const auto& h : hosts) slurm_hostlist_push_host(hl, h.c_str());
  slurm_hostlist_uniq(hl);
  char* s = slurm_hostlist_ranged_string_malloc(hl);
  std::string out = s ? s : "";
  free(s);
  slurm_hostlist_destroy(hl);
  return out;
}

RC_GTEST_PROP(HostlistAgainstSlurm, ExpandsAsSlurmDoes, ()) {
  std::string expr = *hostlist_gen::Expression();
  auto mine = ExpandHostlist(expr);
  auto slurm = SlurmExpand(expr);
  RC_ASSERT(mine.ok());
  RC_ASSERT(slurm.has_value());
  RC_ASSERT(*mine == *slurm);
}

RC_GTEST_PROP(HostlistAgainstSlurm, CompressesAsSlurmDoes, ()) {
  Hosts hosts = *hostlist_gen::HostNames();
  std::sort(hosts.begin(), hosts.end(), HostnameLess);
  RC_ASSERT(CompressHostlist(hosts) == SlurmCompress(hosts));
}

TEST(HostlistAgainstSlurm, KnownExpressions) {
  for (const char* expr : {"gpu[01-04,07]", "a[1-2]b[3-4]", "n[01-3]", "n[1-03]", "n1 n2", "[1-2]", "n[2,1,1]",
                           "rack[1-2]-n[01-02],login", "n[098-101]"}) {
    auto mine = ExpandHostlist(expr);
    auto slurm = SlurmExpand(expr);
    ASSERT_TRUE(mine.ok()) << expr;
    ASSERT_TRUE(slurm.has_value()) << expr;
    EXPECT_EQ(*mine, *slurm) << expr;
  }
  for (const char* bad : {"n[5-3]", "n[]", "n[a-b]"}) {
    EXPECT_FALSE(ExpandHostlist(bad).ok()) << bad;
    EXPECT_FALSE(SlurmExpand(bad).has_value()) << bad;
  }
  // Where gm is deliberately stricter: Slurm turns unbalanced brackets into
  // odd host names ("n[1-2" is the one host "n]"); gm refuses them.
  EXPECT_EQ(*SlurmExpand("n[1-2"), Hosts{"n]"});
  EXPECT_FALSE(ExpandHostlist("n[1-2").ok());
  EXPECT_EQ(*SlurmExpand("n1-2]"), Hosts{"n1-2]"});
  EXPECT_FALSE(ExpandHostlist("n1-2]").ok());
  // And more lenient: text after a bracket group, which Slurm refuses.
  EXPECT_FALSE(SlurmExpand("n[1-2]x").has_value());
  EXPECT_EQ(*ExpandHostlist("n[1-2]x"), (Hosts{"n1x", "n2x"}));
}

TEST(HostlistAgainstSlurm, KnownCases) {
  for (const Hosts& hosts : std::vector<Hosts>{{"n1", "n01", "n10", "n2"},
                                               {"gpu01", "gpu02", "gpu03", "gpu07"},
                                               {"n9", "n10", "n11"},
                                               {"b1", "a2", "a1", "login"},
                                               {"rack10-n1", "rack2-n1"}}) {
    Hosts sorted = hosts;
    std::sort(sorted.begin(), sorted.end(), HostnameLess);
    EXPECT_EQ(CompressHostlist(hosts), SlurmCompress(sorted));
  }
}

}  // namespace
}  // namespace gm
