// Slurm hostlist expressions ("gpu[01-04,07]"): expanding them into host
// names and compressing host names back, as SLURM_JOB_NODELIST shows them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace gm {

// Most hosts one expression may expand to; beyond it ExpandHostlist fails
// rather than allocate without bound on a typo such as "n[0-999999999]".
constexpr size_t kMaxHostlistHosts = 1'000'000;

// Expands a hostlist expression the way Slurm's hostlist_create does:
//  - items are separated by commas (or whitespace) outside brackets;
//  - "gpu[01-04,07]" gives gpu01 gpu02 gpu03 gpu04 gpu07: a range's width is
//    the width of its low bound, and numbers are zero-padded to it;
//  - several bracket groups form a cartesian product, left group outermost:
//    "a[1-2]b[3-4]" gives a1b3 a1b4 a2b3 a2b4; text after a group is kept;
//  - order and duplicates are kept ("n2,n1,n1" gives n2 n1 n1).
// Errors (InvalidArgument): unbalanced or nested brackets, an empty group,
// a bound that is not a number, a reversed range ("n[5-3]"), more than
// kMaxHostlistHosts hosts.
// Checked against libslurm 22.05 (tests/slurm/hostlist_slurm_test): the same
// hosts in the same order, except that Slurm reads unbalanced brackets as
// odd names ("n[1-2" is the host "n]") where this refuses them, and refuses
// text after a group ("n[1-2]x") where this keeps it.
Result<std::vector<std::string>> ExpandHostlist(const std::string& expr);

// How many hosts ExpandHostlist(expr) would give, without expanding them, so
// a caller can refuse a large expression cheaply. Same syntax errors (one
// range of more than kMaxHostlistHosts is one); the total is not capped
// (it saturates at UINT64_MAX).
Result<uint64_t> CountHostlist(const std::string& expr);

// Compresses host names into one expression, as Slurm prints a job's node
// list and as `scontrol show hostlistsorted` does: names are sorted, then
// runs of consecutive numbers with the same prefix and padding become ranges
// and ranges sharing a prefix share one bracket ("n[1-3,7],login").
// Unlike hostlistsorted, duplicates are dropped, so ExpandHostlist of the
// result is exactly the sorted, de-duplicated input (see HostnameLess).
// Only a trailing number is compressed ("a1b3" has prefix "a1b").
std::string CompressHostlist(const std::vector<std::string>& hosts);

// The order CompressHostlist sorts in, Slurm's (measured against libslurm
// 22.05's hostlist_uniq): prefix before the trailing number (compared in
// natural order, digits as numbers), names without a number first, then the
// number's written width, then its value ("n9" < "n10" < "n05" < "n010";
// n1 n01 n2 n10 compress to "n[1-2,01,10]").
bool HostnameLess(const std::string& a, const std::string& b);

}  // namespace gm
