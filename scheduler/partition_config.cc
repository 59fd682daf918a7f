// Parsing of partition and site-RTT configuration lines.
#include "scheduler/partition_config.h"

#include <sstream>

#include "common/hostlist.h"
#include "common/slurm_time.h"

namespace gm::sched {

namespace {

std::set<std::string> CommaSet(const std::string& v) {
  std::set<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.insert(item);
  return out;
}

Result<int64_t> Limit(const std::string& key, const std::string& v) {
  auto t = ParseTimeLimit(v);
  if (!t.ok()) return Status::InvalidArgument("partition " + key + ": " + t.status().message());
  if (!t->has_value()) return Status::InvalidArgument("partition " + key + " cannot be UNLIMITED: escrow needs a bound");
  return **t;
}

}  // namespace

Result<Partition> ParsePartition(const std::string& line) {
  Partition p;
  p.default_time_s = 3600;
  p.max_time_s = 7 * 86400;
  std::stringstream ss(line);
  std::string word;
  while (ss >> word) {
    auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::InvalidArgument("partition: expected key=value, got '" + word + "'");
    std::string key = word.substr(0, eq), v = word.substr(eq + 1);
    if (key == "name") {
      p.name = v;
    } else if (key == "default") {
      if (v != "yes" && v != "no") return Status::InvalidArgument("partition default: yes or no, got '" + v + "'");
      p.is_default = v == "yes";
    } else if (key == "gpu-models") {
      p.gpu_models = CommaSet(v);
    } else if (key == "regions") {
      p.regions = CommaSet(v);
    } else if (key == "features") {
      p.features = CommaSet(v);
    } else if (key == "nodes") {
      auto hosts = ExpandHostlist(v);
      if (!hosts.ok()) return Status::InvalidArgument("partition nodes: " + hosts.status().message());
      p.node_names.insert(hosts->begin(), hosts->end());
    } else if (key == "min-trust") {
      if (v.size() != 1 || v[0] < '1' || v[0] > '4')
        return Status::InvalidArgument("partition min-trust: 1 to 4, got '" + v + "'");
      p.min_trust = v[0] - '0';
    } else if (key == "default-time") {
      GM_ASSIGN_OR_RETURN(p.default_time_s, Limit(key, v));
    } else if (key == "max-time") {
      GM_ASSIGN_OR_RETURN(p.max_time_s, Limit(key, v));
    } else {
      return Status::InvalidArgument("partition: unknown key '" + key + "'");
    }
  }
  if (p.name.empty()) return Status::InvalidArgument("partition: name= is required");
  if (p.default_time_s > p.max_time_s)
    return Status::InvalidArgument("partition " + p.name + ": default-time exceeds max-time");
  return p;
}

Result<std::tuple<std::string, std::string, double>> ParseSiteRtt(const std::string& text) {
  std::stringstream ss(text);
  std::string a, b, ms;
  if (!std::getline(ss, a, ',') || !std::getline(ss, b, ',') || !std::getline(ss, ms) || a.empty() || b.empty())
    return Status::InvalidArgument("site-rtt: expected SITE_A,SITE_B,MILLISECONDS, got '" + text + "'");
  char* end = nullptr;
  double v = std::strtod(ms.c_str(), &end);
  if (*end || v < 0) return Status::InvalidArgument("site-rtt: bad milliseconds '" + ms + "'");
  return std::make_tuple(a, b, v);
}

}  // namespace gm::sched
