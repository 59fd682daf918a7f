// Expanding and compressing Slurm hostlist expressions.
#include "common/hostlist.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace gm {

namespace {

// 18 digits always fit in uint64_t, so bounds need no overflow checks.
constexpr size_t kMaxNumberDigits = 18;

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

std::string Pad(uint64_t n, size_t width) {
  std::string digits = std::to_string(n);
  return digits.size() >= width ? digits : std::string(width - digits.size(), '0') + digits;
}

struct Range {
  uint64_t lo, hi;
  size_t width;
};

// One piece of an item: literal text, or a bracket group of ranges.
struct Segment {
  std::string text;
  std::vector<Range> ranges;  // empty for literal text
};

Status Invalid(const std::string& expr, const std::string& why) {
  return Status::InvalidArgument("invalid hostlist '" + expr + "': " + why);
}

bool ParseBound(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > kMaxNumberDigits) return false;
  for (char c : s)
    if (!IsDigit(c)) return false;
  *out = std::stoull(s);
  return true;
}

// "01-04,07" -> ranges; the width of a range is the width of its low bound.
Result<std::vector<Range>> ParseGroup(const std::string& expr, const std::string& body) {
  std::vector<Range> ranges;
  size_t start = 0;
  while (start <= body.size()) {
    size_t comma = std::min(body.find(',', start), body.size());
    std::string elem = body.substr(start, comma - start);
    size_t dash = elem.find('-');
    std::string lo_s = elem.substr(0, dash);
    std::string hi_s = dash == std::string::npos ? lo_s : elem.substr(dash + 1);
    Range r{0, 0, lo_s.size()};
    if (!ParseBound(lo_s, &r.lo) || !ParseBound(hi_s, &r.hi))
      return Invalid(expr, "bad range '" + elem + "'");
    if (r.lo > r.hi) return Invalid(expr, "reversed range '" + elem + "'");
    if (r.hi - r.lo >= kMaxHostlistHosts) return Invalid(expr, "too many hosts in '" + elem + "'");
    ranges.push_back(r);
    start = comma + 1;
  }
  return ranges;
}

Result<std::vector<Segment>> ParseItem(const std::string& expr, const std::string& item) {
  std::vector<Segment> segs;
  size_t pos = 0;
  while (pos < item.size()) {
    size_t open = item.find('[', pos);
    if (open == std::string::npos) open = item.size();
    if (open > pos) segs.push_back(Segment{item.substr(pos, open - pos), {}});
    if (open == item.size()) break;
    size_t close = item.find(']', open);  // brackets were checked to balance
    if (close == open + 1) return Invalid(expr, "empty brackets");
    GM_ASSIGN_OR_RETURN(auto ranges, ParseGroup(expr, item.substr(open + 1, close - open - 1)));
    segs.push_back(Segment{"", std::move(ranges)});
    pos = close + 1;
  }
  return segs;
}

// Splits at top-level commas and whitespace; checks brackets balance, unnested.
Result<std::vector<std::string>> SplitItems(const std::string& expr) {
  std::vector<std::string> items;
  std::string cur;
  int depth = 0;
  for (char c : expr) {
    if (c == '[' && ++depth > 1) return Invalid(expr, "nested '['");
    if (c == ']' && --depth < 0) return Invalid(expr, "unbalanced ']'");
    if (depth == 0 && (c == ',' || std::isspace(static_cast<unsigned char>(c)))) {
      if (!cur.empty()) items.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (depth != 0) return Invalid(expr, "unbalanced '['");
  if (!cur.empty()) items.push_back(cur);
  return items;
}

// Saturates at `cap` + 1: anything above the cap is rejected anyway.
uint64_t CountHosts(const std::vector<Segment>& segs, uint64_t cap = kMaxHostlistHosts) {
  uint64_t total = 1;
  for (const Segment& s : segs) {
    if (s.ranges.empty()) continue;
    uint64_t n = 0;
    for (const Range& r : s.ranges) n = (n > cap) ? n : n + (r.hi - r.lo + 1);
    total = (n != 0 && total > cap / n) ? cap + 1 : total * n;
  }
  return total;
}

void AppendProduct(const std::vector<Segment>& segs, std::vector<std::string>* out) {
  std::vector<std::string> names{""};
  for (const Segment& s : segs) {
    if (s.ranges.empty()) {
      for (auto& n : names) n += s.text;
      continue;
    }
    std::vector<std::string> next;
    for (const auto& n : names)
      for (const Range& r : s.ranges)
        for (uint64_t v = r.lo; v <= r.hi; ++v) next.push_back(n + Pad(v, r.width));
    names = std::move(next);
  }
  out->insert(out->end(), names.begin(), names.end());
}

}  // namespace

Result<std::vector<std::string>> ExpandHostlist(const std::string& expr) {
  GM_ASSIGN_OR_RETURN(auto items, SplitItems(expr));
  std::vector<std::vector<Segment>> parsed;
  uint64_t total = 0;
  for (const auto& item : items) {
    GM_ASSIGN_OR_RETURN(auto segs, ParseItem(expr, item));
    total += CountHosts(segs);
    if (total > kMaxHostlistHosts)
      return Invalid(expr, "more than " + std::to_string(kMaxHostlistHosts) + " hosts");
    parsed.push_back(std::move(segs));
  }
  std::vector<std::string> hosts;
  hosts.reserve(total);
  for (const auto& segs : parsed) AppendProduct(segs, &hosts);
  return hosts;
}

Result<uint64_t> CountHostlist(const std::string& expr) {
  constexpr uint64_t kCap = UINT64_MAX - 1;
  GM_ASSIGN_OR_RETURN(auto items, SplitItems(expr));
  uint64_t total = 0;
  for (const auto& item : items) {
    GM_ASSIGN_OR_RETURN(auto segs, ParseItem(expr, item));
    uint64_t n = CountHosts(segs, kCap);
    total = (n > kCap - total) ? UINT64_MAX : total + n;
  }
  return total;
}

namespace {

// A host name split at its trailing number: "gpu07" = {"gpu", 7, width 2}.
struct HostName {
  std::string prefix;
  bool numbered = false;
  uint64_t num = 0;
  size_t width = 0;
};

HostName SplitHost(const std::string& host) {
  size_t start = host.size();
  while (start > 0 && IsDigit(host[start - 1])) --start;
  size_t digits = host.size() - start;
  // A name that is all number-run past 18 digits stays unsplit: no range.
  if (digits == 0 || digits > kMaxNumberDigits) return HostName{host};
  return HostName{host.substr(0, start), true, std::stoull(host.substr(start)), digits};
}

// Natural order: digit runs compare as numbers, other characters as bytes.
// Allocates nothing: sorting a 10,000-node list calls it a few hundred
// thousand times.
int NaturalCompare(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (IsDigit(a[i]) && IsDigit(b[j])) {
      size_t ei = i, ej = j;
      while (ei < a.size() && IsDigit(a[ei])) ++ei;
      while (ej < b.size() && IsDigit(b[ej])) ++ej;
      size_t zi = i, zj = j;  // skip leading zeros
      while (zi < ei && a[zi] == '0') ++zi;
      while (zj < ej && b[zj] == '0') ++zj;
      if (ei - zi != ej - zj) return ei - zi < ej - zj ? -1 : 1;
      for (; zi < ei; ++zi, ++zj)
        if (a[zi] != b[zj]) return a[zi] < b[zj] ? -1 : 1;
      i = ei, j = ej;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]) ? -1 : 1;
    ++i, ++j;
  }
  if (i < a.size()) return 1;
  return j < b.size() ? -1 : 0;
}

// Slurm's hostrange order: the prefix, then the written width, then the
// number. For numbers written without padding the width only follows the
// value (n9 < n10), while padded ones sort after unpadded ones of their
// value: Slurm compresses n1 n01 n2 n10 to "n[1-2,01,10]".
bool SplitLess(const HostName& x, const HostName& y) {
  if (int c = NaturalCompare(x.prefix, y.prefix)) return c < 0;
  if (x.prefix != y.prefix) return x.prefix < y.prefix;  // "a01b" vs "a1b"
  if (x.numbered != y.numbered) return !x.numbered;
  if (x.width != y.width) return x.width < y.width;
  return x.num < y.num;
}

// True when `h` prints as itself inside a range whose width is `width`.
bool FitsWidth(const HostName& h, size_t width) {
  return h.width == std::max(width, std::to_string(h.num).size());
}

struct OutRange {
  HostName first;
  uint64_t hi;
};

std::string FormatRanges(const std::vector<OutRange>& group) {
  const HostName& head = group.front().first;
  if (!head.numbered) return head.prefix;
  if (group.size() == 1 && head.num == group.front().hi) return head.prefix + Pad(head.num, head.width);
  std::string out = head.prefix + "[";
  for (size_t i = 0; i < group.size(); ++i) {
    const OutRange& r = group[i];
    if (i > 0) out += ",";
    out += Pad(r.first.num, r.first.width);
    if (r.hi != r.first.num) out += "-" + Pad(r.hi, r.first.width);
  }
  return out + "]";
}

}  // namespace

bool HostnameLess(const std::string& a, const std::string& b) { return SplitLess(SplitHost(a), SplitHost(b)); }

std::string CompressHostlist(const std::vector<std::string>& hosts) {
  // Split each name once, then sort the split forms.
  std::vector<HostName> sorted;
  sorted.reserve(hosts.size());
  for (const auto& name : hosts) sorted.push_back(SplitHost(name));
  std::sort(sorted.begin(), sorted.end(), SplitLess);
  sorted.erase(std::unique(sorted.begin(), sorted.end(),
                           [](const HostName& x, const HostName& y) {
                             return x.prefix == y.prefix && x.numbered == y.numbered && x.num == y.num &&
                                    x.width == y.width;
                           }),
               sorted.end());
  std::vector<OutRange> ranges;
  for (const HostName& h : sorted) {
    if (!ranges.empty()) {
      OutRange& last = ranges.back();
      if (h.numbered && last.first.numbered && h.prefix == last.first.prefix &&
          h.num == last.hi + 1 && FitsWidth(h, last.first.width)) {
        last.hi = h.num;
        continue;
      }
    }
    ranges.push_back(OutRange{h, h.num});
  }
  std::string out;
  for (size_t i = 0; i < ranges.size();) {
    size_t j = i + 1;
    while (j < ranges.size() && ranges[i].first.numbered && ranges[j].first.numbered &&
           ranges[j].first.prefix == ranges[i].first.prefix)
      ++j;
    if (!out.empty()) out += ",";
    out += FormatRanges(std::vector<OutRange>(ranges.begin() + i, ranges.begin() + j));
    i = j;
  }
  return out;
}

}  // namespace gm
