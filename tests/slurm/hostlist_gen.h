// rapidcheck generators of host names and hostlist expressions, shared by
// the hostlist property tests: names over a few prefixes (some with digits
// inside, some natural-order traps like rack2/rack10), with and without a
// trailing number, the number sometimes zero-padded.
#pragma once

#include <rapidcheck.h>

#include <string>
#include <vector>

namespace gm::hostlist_gen {

inline rc::Gen<std::string> Prefix() {
  return rc::gen::oneOf(rc::gen::element<std::string>("n", "gpu", "node-", "rack2-n", "rack10-n", "a1b", "x", ""),
                        rc::gen::container<std::string>(rc::gen::inRange('a', 'e')));
}

inline rc::Gen<std::string> HostName() {
  return rc::gen::apply(
      [](std::string prefix, bool numbered, int value, int pad) {
        if (!numbered) return prefix.empty() ? std::string("login") : prefix;
        std::string digits = std::to_string(value);
        return prefix + std::string(static_cast<size_t>(pad), '0') + digits;
      },
      Prefix(), rc::gen::weightedElement<bool>({{1, false}, {6, true}}), rc::gen::inRange(0, 300),
      rc::gen::weightedElement<int>({{6, 0}, {2, 1}, {1, 2}}));
}

inline rc::Gen<std::vector<std::string>> HostNames() {
  return rc::gen::resize(60, rc::gen::container<std::vector<std::string>>(HostName()));
}

// "prefix[lo-hi,n,...]" items joined by commas; prefixes end in a letter
// so that Slurm reads the numbers the same way.
inline rc::Gen<std::string> Expression() {
  auto range = rc::gen::apply(
      [](int lo, int span, int pad) {
        std::string lo_text = std::string(static_cast<size_t>(pad), '0') + std::to_string(lo);
        return span == 0 ? lo_text : lo_text + "-" + std::to_string(lo + span);
      },
      rc::gen::inRange(0, 200), rc::gen::weightedElement<int>({{2, 0}, {3, 5}, {1, 30}}),
      rc::gen::weightedElement<int>({{4, 0}, {1, 1}, {1, 2}}));
  auto item = rc::gen::apply(
      [](std::string prefix, std::vector<std::string> ranges) {
        std::string body;
        for (const auto& r : ranges) body += (body.empty() ? "" : ",") + r;
        return prefix + "[" + body + "]";
      },
      rc::gen::element<std::string>("n", "gpu", "node-", "rack", "c"),
      rc::gen::resize(5, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(range))));
  return rc::gen::map(rc::gen::resize(4, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(item))),
                      [](const std::vector<std::string>& items) {
                        std::string out;
                        for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
                        return out;
                      });
}

}  // namespace gm::hostlist_gen
