// Beta-estimated reputation, heartbeat uptime, trust levels and their events.
#include "accounting/reputation.h"

#include <algorithm>

namespace gm::acct {

using nlohmann::json;

double ReputationScore(const NodeReputation& r, const ReputationConfig& c) {
  double a = c.prior_alpha + static_cast<double>(r.jobs_ok);
  double b = c.prior_beta + static_cast<double>(r.jobs_failed);
  double mean = a + b > 0 ? a / (a + b) : 0.0;
  return mean * static_cast<double>(r.penalty_ppm) / 1e6;
}

int64_t UptimeBp(const NodeReputation& r) {
  int64_t total = r.up_ms + r.down_ms;
  return total == 0 ? 10'000 : static_cast<int64_t>(static_cast<__int128>(r.up_ms) * 10'000 / total);
}

int TrustLevel(const NodeReputation& r, Micros stake, const TrustConfig& c) {
  if (r.banned) return 0;
  if (r.partner) return 4;
  if (stake < c.basic_stake) return 0;
  if (stake < c.verified_stake || r.challenges_passed < c.verified_challenges) return 1;
  int64_t jobs = r.jobs_ok + r.jobs_failed;
  bool success = static_cast<__int128>(r.jobs_ok) * 10'000 >= static_cast<__int128>(jobs) * c.trusted_success_bp;
  if (stake < c.trusted_stake || jobs < c.trusted_jobs || !success) return 2;
  return 3;
}

const char* TrustLevelName(int level) {
  switch (level) {
    case 1: return "Basic";
    case 2: return "Verified";
    case 3: return "Trusted";
    case 4: return "Partner";
    default: return "none";
  }
}

namespace {

NodeEvent Start(const NodeReputation& r, const std::string& node, const char* kind,
                const std::string& cause, int64_t now_ms, const ReputationConfig& c) {
  NodeEvent e;
  e.node_id = node;
  e.time_ms = now_ms;
  e.kind = kind;
  e.cause = cause;
  e.reputation_before = ReputationScore(r, c);
  return e;
}

}  // namespace

NodeEvent RecordJobOutcome(NodeReputation& r, const std::string& node, bool ok,
                           const std::string& cause, int64_t now_ms, const ReputationConfig& c) {
  NodeEvent e = Start(r, node, ok ? "job_ok" : "job_failed", cause, now_ms, c);
  (ok ? r.jobs_ok : r.jobs_failed) += 1;
  e.reputation_after = ReputationScore(r, c);
  return e;
}

NodeEvent RecordChallenge(NodeReputation& r, const std::string& node, bool passed,
                          const std::string& cause, int64_t now_ms, const ReputationConfig& c) {
  NodeEvent e = Start(r, node, passed ? "challenge_passed" : "challenge_failed", cause, now_ms, c);
  if (passed) {
    ++r.challenges_passed;
  } else {
    ++r.challenges_failed;
    r.penalty_ppm = static_cast<int64_t>(static_cast<__int128>(r.penalty_ppm) *
                                         (10'000 - c.challenge_penalty_bp) / 10'000);
  }
  e.reputation_after = ReputationScore(r, c);
  return e;
}

std::vector<NodeEvent> RecordHeartbeat(NodeReputation& r, const std::string& node, int64_t now_ms,
                                       const ReputationConfig& c) {
  if (r.last_heartbeat_ms < 0) {
    r.last_heartbeat_ms = now_ms;
    return {};
  }
  int64_t gap = now_ms - r.last_heartbeat_ms;
  if (gap <= 0) return {};
  r.last_heartbeat_ms = now_ms;
  int64_t up = std::min(gap, c.heartbeat_timeout_ms);
  r.up_ms += up;
  if (gap == up) return {};
  r.down_ms += gap - up;
  NodeEvent e = Start(r, node, "downtime",
                      "no heartbeat for " + std::to_string(gap) + " ms (" + std::to_string(gap - up) +
                          " ms counted as down)",
                      now_ms, c);
  e.reputation_after = e.reputation_before;
  return {e};
}

bool ShouldDrain(const NodeReputation& r, const ReputationConfig& c) {
  int64_t jobs = r.jobs_ok + r.jobs_failed;
  if (jobs < c.drain_min_jobs || jobs == 0) return false;
  return static_cast<__int128>(r.jobs_failed) * 10'000 > static_cast<__int128>(jobs) * c.drain_failure_bp;
}

void to_json(json& j, const NodeReputation& r) {
  j = json{{"jobs_ok", r.jobs_ok}, {"jobs_failed", r.jobs_failed},
           {"challenges_passed", r.challenges_passed}, {"challenges_failed", r.challenges_failed},
           {"penalty_ppm", r.penalty_ppm}, {"up_ms", r.up_ms}, {"down_ms", r.down_ms},
           {"last_heartbeat_ms", r.last_heartbeat_ms}, {"banned", r.banned},
           {"draining", r.draining}, {"partner", r.partner}};
}

void from_json(const json& j, NodeReputation& r) {
  r = NodeReputation{};
  j.at("jobs_ok").get_to(r.jobs_ok);
  j.at("jobs_failed").get_to(r.jobs_failed);
  j.at("challenges_passed").get_to(r.challenges_passed);
  j.at("challenges_failed").get_to(r.challenges_failed);
  j.at("penalty_ppm").get_to(r.penalty_ppm);
  j.at("up_ms").get_to(r.up_ms);
  j.at("down_ms").get_to(r.down_ms);
  j.at("last_heartbeat_ms").get_to(r.last_heartbeat_ms);
  j.at("banned").get_to(r.banned);
  j.at("draining").get_to(r.draining);
  j.at("partner").get_to(r.partner);
}

void to_json(json& j, const NodeEvent& e) {
  j = json{{"node_id", e.node_id}, {"time_ms", e.time_ms}, {"kind", e.kind}, {"cause", e.cause},
           {"reputation_before", e.reputation_before}, {"reputation_after", e.reputation_after},
           {"trust_before", e.trust_before}, {"trust_after", e.trust_after},
           {"stake_change", e.stake_change}, {"tx_ref", e.tx_ref}};
}

void from_json(const json& j, NodeEvent& e) {
  e = NodeEvent{};
  j.at("node_id").get_to(e.node_id);
  j.at("time_ms").get_to(e.time_ms);
  j.at("kind").get_to(e.kind);
  j.at("cause").get_to(e.cause);
  j.at("reputation_before").get_to(e.reputation_before);
  j.at("reputation_after").get_to(e.reputation_after);
  j.at("trust_before").get_to(e.trust_before);
  j.at("trust_after").get_to(e.trust_after);
  j.at("stake_change").get_to(e.stake_change);
  j.at("tx_ref").get_to(e.tx_ref);
}

}  // namespace gm::acct
