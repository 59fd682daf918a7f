// libFuzzer target for hostlist expressions. Any input may be refused;
// CountHostlist must agree with ExpandHostlist; and an expression that
// expands must round-trip: compressing its hosts and
// expanding the result gives the hosts sorted and de-duplicated, and
// compressing that again gives the same text. A broken round trip aborts,
// which libFuzzer reports as a crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/hostlist.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string expr(reinterpret_cast<const char*>(data), size);
  // Counting first keeps big expansions (up to a million hosts) out of the
  // loop; the count must agree with the expansion and its verdict on syntax.
  auto count = gm::CountHostlist(expr);
  if (count.ok() && *count > 2000) return 0;
  auto hosts = gm::ExpandHostlist(expr);
  if (count.ok() != hosts.ok()) std::abort();
  if (!hosts.ok()) return 0;
  if (*count != hosts->size()) std::abort();
  std::vector<std::string> sorted = *hosts;
  std::sort(sorted.begin(), sorted.end(), gm::HostnameLess);
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string compressed = gm::CompressHostlist(*hosts);
  auto again = gm::ExpandHostlist(compressed);
  if (!again.ok() || *again != sorted) std::abort();
  if (gm::CompressHostlist(*again) != compressed) std::abort();
  return 0;
}
