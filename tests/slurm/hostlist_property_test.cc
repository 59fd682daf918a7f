// Property tests for hostlist expressions (rapidcheck): whatever host names
// a job gets, compressing them and expanding the result gives them back,
// sorted and de-duplicated; compressing is canonical and idempotent; the
// count agrees with the expansion. hostlist_slurm_test checks the same
// generators against libslurm's own hostlist code.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "common/hostlist.h"
#include "tests/slurm/hostlist_gen.h"

namespace gm {
namespace {

using Hosts = std::vector<std::string>;

Hosts SortedUnique(Hosts h) {
  std::sort(h.begin(), h.end(), HostnameLess);
  h.erase(std::unique(h.begin(), h.end()), h.end());
  return h;
}

std::string Join(const Hosts& h) {
  std::string out;
  for (const auto& x : h) out += (out.empty() ? "" : ",") + x;
  return out;
}

RC_GTEST_PROP(HostlistProperty, CompressThenExpandGivesTheSortedUniqueHosts, ()) {
  Hosts hosts = *hostlist_gen::HostNames();
  auto back = ExpandHostlist(CompressHostlist(hosts));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == SortedUnique(hosts));
}

RC_GTEST_PROP(HostlistProperty, CompressIsIdempotent, ()) {
  Hosts hosts = *hostlist_gen::HostNames();
  std::string once = CompressHostlist(hosts);
  auto expanded = ExpandHostlist(once);
  RC_ASSERT(expanded.ok());
  RC_ASSERT(CompressHostlist(*expanded) == once);
}

RC_GTEST_PROP(HostlistProperty, CompressDoesNotDependOnOrderOrDuplicates, ()) {
  Hosts hosts = *hostlist_gen::HostNames();
  Hosts shuffled = *rc::gen::container<Hosts>(rc::gen::elementOf(hosts.empty() ? Hosts{"n1"} : hosts));
  if (hosts.empty()) return;
  // Every shuffled name comes from `hosts`: together they compress the same.
  Hosts both = hosts;
  both.insert(both.end(), shuffled.begin(), shuffled.end());
  std::reverse(both.begin(), both.end());
  RC_ASSERT(CompressHostlist(both) == CompressHostlist(hosts));
}

RC_GTEST_PROP(HostlistProperty, PlainListsExpandInOrderWithDuplicates, ()) {
  Hosts hosts = *hostlist_gen::HostNames();
  auto back = ExpandHostlist(Join(hosts));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == hosts);
}

RC_GTEST_PROP(HostlistProperty, ExpressionsExpandToTheirCountAndRoundTrip, ()) {
  std::string expr = *hostlist_gen::Expression();
  auto hosts = ExpandHostlist(expr);
  RC_ASSERT(hosts.ok());
  auto count = CountHostlist(expr);
  RC_ASSERT(count.ok());
  RC_ASSERT(*count == hosts->size());
  auto back = ExpandHostlist(CompressHostlist(*hosts));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == SortedUnique(*hosts));
}

RC_GTEST_PROP(HostlistProperty, ARangeIsPaddedToItsLowBound, ()) {
  int lo = *rc::gen::inRange(0, 500);
  int span = *rc::gen::inRange(0, 40);
  int pad = *rc::gen::inRange(0, 3);
  std::string lo_text = std::string(static_cast<size_t>(pad), '0') + std::to_string(lo);
  auto hosts = ExpandHostlist("c[" + lo_text + "-" + std::to_string(lo + span) + "]");
  RC_ASSERT(hosts.ok());
  RC_ASSERT(hosts->size() == static_cast<size_t>(span + 1));
  for (int i = 0; i <= span; ++i) {
    std::string digits = std::to_string(lo + i);
    if (digits.size() < lo_text.size()) digits.insert(0, lo_text.size() - digits.size(), '0');
    RC_ASSERT((*hosts)[static_cast<size_t>(i)] == "c" + digits);
  }
}

}  // namespace
}  // namespace gm
