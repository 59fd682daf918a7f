// Reputation and trust of provider nodes, and the events that explain every
// change to them.
//
// Reputation is the mean of a Beta(α, β) estimate of the probability that the
// node serves a job without fault, scaled by a penalty factor:
//     α = prior_alpha + jobs_ok,  β = prior_beta + jobs_failed
//     reputation = α ÷ (α + β) × penalty_ppm ÷ 1,000,000
// The default prior is Beta(1, 1) (uniform: a new node starts at 0.5 and
// Laplace's rule of succession moves it). A job counts as ok for a node when
// the node served its attempt to the end (whatever the job's exit code: a
// user's failing script is not the node's fault) and as failed when the
// attempt ended by the node's fault (timeout, killed by the node). Each
// failed challenge multiplies the penalty factor by (1 − 2 %).
//
// Uptime comes from heartbeats: the gap between two heartbeats counts as up
// to the heartbeat timeout, and what exceeds the timeout counts as down.
//
// Trust levels are cumulative; each includes the previous level's conditions:
//   0 none, 1 Basic (stake ≥ 100 tokens), 2 Verified (≥ 10 passed challenges,
//   stake ≥ 1,000), 3 Trusted (≥ 100 jobs, ≥ 95 % success, stake ≥ 10,000),
//   4 Partner (set by an admin; needs no figures). A banned node is level 0.
//   "stake" is the node's bonded stake.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/job_spec.h"

namespace gm::acct {

struct TrustConfig {
  Micros basic_stake = 100 * kMicrosPerToken;
  Micros verified_stake = 1'000 * kMicrosPerToken;
  int64_t verified_challenges = 10;
  Micros trusted_stake = 10'000 * kMicrosPerToken;
  int64_t trusted_jobs = 100;
  int trusted_success_bp = 9500;  // ≥ 95 % of jobs ok
};

struct ReputationConfig {
  double prior_alpha = 1.0;           // Beta prior: pseudo-count of ok jobs
  double prior_beta = 1.0;            // Beta prior: pseudo-count of failed jobs
  int challenge_penalty_bp = 200;     // failed challenge: reputation × (1 − 2 %)
  int timeout_slash_bp = 500;         // node timeout during a job: −5 % stake
  int forgery_slash_bp = 5000;        // forged record: −50 % stake, and a ban
  int drain_failure_bp = 2000;        // failure rate over 20 % drains the node for review …
  int64_t drain_min_jobs = 10;        // … once it has at least this many job outcomes
  int64_t heartbeat_timeout_ms = 60'000;  // a longer gap between heartbeats is downtime
  TrustConfig trust;
};

// What is known of one node's behaviour (persist it as JSON).
struct NodeReputation {
  int64_t jobs_ok = 0;
  int64_t jobs_failed = 0;
  int64_t challenges_passed = 0;
  int64_t challenges_failed = 0;
  int64_t penalty_ppm = 1'000'000;   // product of challenge penalties, in millionths
  int64_t up_ms = 0;                 // from heartbeats
  int64_t down_ms = 0;
  int64_t last_heartbeat_ms = -1;    // −1: none yet
  bool banned = false;               // forged a record: never matched again
  bool draining = false;             // failure rate too high: drained for review
  bool partner = false;              // set by an admin
};
void to_json(nlohmann::json& j, const NodeReputation& r);
void from_json(const nlohmann::json& j, NodeReputation& r);

// The score in [0, 1] described above.
double ReputationScore(const NodeReputation& r, const ReputationConfig& c);
// Uptime in basis points (10,000 when no time has been observed yet).
int64_t UptimeBp(const NodeReputation& r);
// Trust level 0…4 for `bonded_stake`.
int TrustLevel(const NodeReputation& r, Micros bonded_stake, const TrustConfig& c);
const char* TrustLevelName(int level);  // "none", "Basic", "Verified", "Trusted", "Partner"

// One change to a node, with its cause: what `gm node show` prints. Kinds
// (frozen: stored): "job_ok", "job_failed", "challenge_passed",
// "challenge_failed", "downtime", "slash_timeout", "slash_forgery", "ban",
// "drain", "review_cleared", "partner", "trust_level", "stake", "unstake",
// "withdraw".
struct NodeEvent {
  std::string node_id;
  int64_t time_ms = 0;
  std::string kind;
  std::string cause;               // human-readable: "node timed out during job 17"
  double reputation_before = 0;
  double reputation_after = 0;
  int trust_before = 0;
  int trust_after = 0;
  Micros stake_change = 0;         // bonded stake moved by this event (negative: slashed or left)
  std::string tx_ref;              // the ledger transaction that moved tokens, if any
};
void to_json(nlohmann::json& j, const NodeEvent& e);
void from_json(const nlohmann::json& j, NodeEvent& e);

// Pure updates: each changes `r` and returns the event that explains it.
// The trust fields of the events are left for the caller, who knows the stake.
NodeEvent RecordJobOutcome(NodeReputation& r, const std::string& node_id, bool ok,
                           const std::string& cause, int64_t now_ms, const ReputationConfig& c);
NodeEvent RecordChallenge(NodeReputation& r, const std::string& node_id, bool passed,
                          const std::string& cause, int64_t now_ms, const ReputationConfig& c);
// Returns a "downtime" event when the gap since the last heartbeat exceeded
// the timeout; none otherwise (a heartbeat on time is not worth a line).
// Heartbeats older than the last one are ignored.
std::vector<NodeEvent> RecordHeartbeat(NodeReputation& r, const std::string& node_id,
                                       int64_t now_ms, const ReputationConfig& c);
// True when the failure rate exceeds drain_failure_bp over at least
// drain_min_jobs outcomes.
bool ShouldDrain(const NodeReputation& r, const ReputationConfig& c);

}  // namespace gm::acct
