// Escrow holds that carry over requeues, per-record settlement with one
// rounding rule, and releases that happen exactly once.
#include "accounting/escrow.h"

#include <algorithm>

#include "accounting/arith.h"

namespace gm::acct {

using nlohmann::json;

std::string RecordId(const UsageRecord& r) { return r.node_id + ":" + std::to_string(r.seq); }

bool EscrowState::Applied(const std::string& node_id, int64_t seq) const {
  auto it = records.find(node_id);
  return it != records.end() && std::binary_search(it->second.begin(), it->second.end(), seq);
}

void EscrowState::MarkApplied(const std::string& node_id, int64_t seq) {
  std::vector<int64_t>& v = records[node_id];
  if (v.empty() || v.back() < seq) v.push_back(seq);
  else v.insert(std::lower_bound(v.begin(), v.end(), seq), seq);
}

namespace {

std::string JobName(int64_t job_id) { return "job " + std::to_string(job_id); }

Status ValidateRequest(const HoldRequest& r) {
  std::string job = JobName(r.job_id);
  if (r.job_id <= 0) return Status::InvalidArgument("hold for invalid job id " + std::to_string(r.job_id));
  if (r.attempt < 0) return Status::InvalidArgument("hold for " + job + " has a negative attempt");
  if (r.amount < 0) return Status::InvalidArgument("hold for " + job + " has a negative amount");
  if (r.time_limit_ms <= 0) return Status::InvalidArgument("hold for " + job + " has no time limit");
  AccountType payer = TypeOf(r.payer_wallet);
  if (payer != AccountType::kUser && payer != AccountType::kProvider)
    return Status::InvalidArgument("hold for " + job + ": '" + r.payer_wallet + "' is not a wallet");
  if (r.nodes.empty()) return Status::InvalidArgument("hold for " + job + " names no node");
  std::set<std::string> seen;
  for (const auto& n : r.nodes) {
    if (n.node_id.empty() || !seen.insert(n.node_id).second)
      return Status::InvalidArgument("hold for " + job + ": empty or repeated node '" + n.node_id + "'");
    if (TypeOf(n.provider_wallet) != AccountType::kProvider)
      return Status::InvalidArgument("hold for " + job + ": node " + n.node_id + "'s wallet '" +
                                     n.provider_wallet + "' is not a provider wallet");
    if (n.price_per_gpu_hour < 0 || n.gpus <= 0)
      return Status::InvalidArgument("hold for " + job + ": node " + n.node_id +
                                     " needs a price ≥ 0 and at least one GPU");
  }
  return Status::OK();
}

Status InsufficientFunds(const Ledger& l, const std::string& payer, int64_t job_id, Micros need) {
  return Status::ResourceExhausted("InsufficientFunds: " + payer + " has " +
                                   std::to_string(l.Balance(payer) + l.CreditLimit(payer)) +
                                   " available, " + JobName(job_id) + " needs " + std::to_string(need));
}

std::vector<NodeMeter> MetersFor(const HoldRequest& req) {
  std::vector<NodeMeter> m;
  for (const auto& n : req.nodes) m.push_back(NodeMeter{n});
  return m;
}

}  // namespace

EscrowBook::EscrowBook(FeePolicy policy) : policy_(policy) {
  // Out-of-range shares would pay out more than a charge (ValidateConfig refuses them first).
  policy_.provider_share_bp = std::clamp(policy_.provider_share_bp, 0, 10'000);
  policy_.fee_burn_bp = std::clamp(policy_.fee_burn_bp, 0, 10'000);
}

const EscrowState* EscrowBook::Find(int64_t job_id) const {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : &it->second;
}

int EscrowBook::RunningJobs(const std::string& node_id) const {
  int n = 0;
  for (const auto& [id, s] : jobs_) {
    if (!s.attempt_open) continue;
    for (const auto& m : s.meters) n += m.node.node_id == node_id;
  }
  return n;
}

Result<Transaction> EscrowBook::Hold(Ledger& ledger, const HoldRequest& req) {
  GM_RETURN_IF_ERROR(ValidateRequest(req));
  auto it = jobs_.find(req.job_id);
  if (it != jobs_.end()) return AdjustHold(ledger, it->second, req);
  Transaction tx;
  if (req.amount > 0) {
    tx = HoldTx(req.job_id, req.attempt, req.payer_wallet, req.amount);
    Status s = ledger.Check(tx);
    if (s.code() == Status::Code::kResourceExhausted)
      return InsufficientFunds(ledger, req.payer_wallet, req.job_id, req.amount);
    GM_RETURN_IF_ERROR(s);
  }
  EscrowState st;
  st.job_id = req.job_id;
  st.payer_wallet = req.payer_wallet;
  st.attempt = req.attempt;
  st.attempt_open = true;
  st.time_limit_ms = req.time_limit_ms;
  st.held = req.amount;
  st.meters = MetersFor(req);
  if (!tx.entries.empty()) GM_RETURN_IF_ERROR(ledger.Apply(tx));
  jobs_[req.job_id] = std::move(st);
  return tx;
}

Result<Transaction> EscrowBook::AdjustHold(Ledger& ledger, EscrowState& s, const HoldRequest& req) {
  std::string job = JobName(req.job_id);
  if (s.released)
    return Status::FailedPrecondition("the hold of " + job + " was released; it cannot be held again");
  if (req.attempt == s.attempt)
    return Status::AlreadyExists("attempt " + std::to_string(req.attempt) + " of " + job + " is held already");
  if (req.attempt < s.attempt)
    return Status::FailedPrecondition("attempt " + std::to_string(req.attempt) + " of " + job +
                                      " is older than attempt " + std::to_string(s.attempt));
  if (s.attempt_open)
    return Status::FailedPrecondition("attempt " + std::to_string(s.attempt) + " of " + job +
                                      " is still open; end it before the next attempt");
  if (req.payer_wallet != s.payer_wallet)
    return Status::InvalidArgument(job + " is paid by " + s.payer_wallet + ", not " + req.payer_wallet);
  // The hold carries over: move only the difference.
  Micros diff = req.amount - s.held;
  std::string ref = "hold:" + std::to_string(req.job_id) + ":" + std::to_string(req.attempt);
  Transaction tx;
  if (diff > 0) {
    tx = Transaction{"hold", ref, "escrow top-up for " + job + " attempt " + std::to_string(req.attempt),
                     {{s.payer_wallet, -diff}, {EscrowAccount(req.job_id), diff}}};
    Status st = ledger.Check(tx);
    if (st.code() == Status::Code::kResourceExhausted)
      return InsufficientFunds(ledger, s.payer_wallet, req.job_id, diff);
    GM_RETURN_IF_ERROR(st);
  } else if (diff < 0) {
    tx = Transaction{"release", ref,
                     "partial release of " + job + "'s hold for attempt " + std::to_string(req.attempt),
                     {{EscrowAccount(req.job_id), diff}, {s.payer_wallet, -diff}}};
  }
  if (!tx.entries.empty()) {
    Status st = ledger.Apply(tx);
    if (!st.ok()) return Status::Internal("escrow of " + job + " disagrees with the ledger: " + st.message());
  }
  s.attempt = req.attempt;
  s.attempt_open = true;
  s.time_limit_ms = req.time_limit_ms;
  s.held = req.amount;
  if (diff < 0) s.refunded += -diff;
  s.meters = MetersFor(req);
  return tx;
}

Result<UsageSettlement> EscrowBook::SettleUsage(Ledger& ledger, const UsageRecord& rec) {
  std::string job = JobName(rec.job_id);
  if (rec.gpu_ms < 0 || rec.seq < 0)
    return Status::InvalidArgument("record " + RecordId(rec) + " for " + job + " has negative GPU-ms or seq");
  auto it = jobs_.find(rec.job_id);
  if (it == jobs_.end()) return Status::NotFound("no hold for " + job);
  EscrowState& s = it->second;
  if (s.Applied(rec.node_id, rec.seq))
    return Status::AlreadyExists("record " + RecordId(rec) + " for " + job + " was applied before");
  if (s.released) return Status::FailedPrecondition("the hold of " + job + " was released");
  if (rec.attempt != s.attempt || !s.attempt_open)
    return Status::FailedPrecondition("attempt " + std::to_string(rec.attempt) + " of " + job +
                                      " is not open to records");
  auto m = std::find_if(s.meters.begin(), s.meters.end(),
                        [&](const NodeMeter& x) { return x.node.node_id == rec.node_id; });
  std::string id = RecordId(rec);
  if (m == s.meters.end())
    return Status::PermissionDenied("node " + rec.node_id + " is not allocated to attempt " +
                                    std::to_string(s.attempt) + " of " + job);
  UsageSettlement out;
  out.tx.kind = "usage";
  out.tx.ref = "usage:" + std::to_string(rec.job_id) + ":" + id;
  out.tx.memo = "usage of " + job + " on " + rec.node_id;
  if (rec.provider_fault) {
    m->fault_gpu_ms += rec.gpu_ms;
    s.MarkApplied(rec.node_id, rec.seq);
    return out;
  }
  int64_t limit = static_cast<int64_t>(m->node.gpus) * s.time_limit_ms;
  int64_t room = std::max<int64_t>(0, limit - m->gpu_ms);
  out.billable_gpu_ms = std::min(rec.gpu_ms, room);
  out.ignored_gpu_ms = rec.gpu_ms - out.billable_gpu_ms;
  int64_t gpu_ms = m->gpu_ms + out.billable_gpu_ms;
  // One rounding: every figure is the floor of the node's exact cumulative amount.
  Micros target = MulDivFloor(m->node.price_per_gpu_hour, gpu_ms, kMsPerHour);
  Micros charged = m->charged + std::min(target - m->charged, s.held);
  Micros provider = ApplyBp(charged, policy_.provider_share_bp);
  Micros burned = ApplyBp(charged - provider, policy_.fee_burn_bp);
  out.charged = charged - m->charged;
  out.provider = provider - m->provider;
  out.burned = burned - m->burned;
  out.treasury = out.charged - out.provider - out.burned;
  if (out.charged > 0) {
    out.tx.entries.push_back({EscrowAccount(rec.job_id), -out.charged});
    if (out.provider > 0) out.tx.entries.push_back({m->node.provider_wallet, out.provider});
    if (out.treasury > 0) out.tx.entries.push_back({kTreasuryAccount, out.treasury});
    if (out.burned > 0) out.tx.entries.push_back({kBurnAccount, out.burned});
    Status st = ledger.Apply(out.tx);
    if (!st.ok()) return Status::Internal("escrow of " + job + " disagrees with the ledger: " + st.message());
  }
  m->gpu_ms = gpu_ms;
  m->ignored_gpu_ms += out.ignored_gpu_ms;
  m->charged = charged;
  m->provider = provider;
  m->burned = burned;
  s.held -= out.charged;
  s.charged += out.charged;
  s.MarkApplied(rec.node_id, rec.seq);
  return out;
}

Status EscrowBook::EndAttempt(int64_t job_id, int attempt) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return Status::NotFound("no hold for " + JobName(job_id));
  EscrowState& s = it->second;
  if (!s.attempt_open || s.attempt != attempt)
    return Status::FailedPrecondition("attempt " + std::to_string(attempt) + " of " + JobName(job_id) +
                                      " is not open");
  s.attempt_open = false;
  return Status::OK();
}

Result<Transaction> EscrowBook::Release(Ledger& ledger, int64_t job_id) {
  std::string job = JobName(job_id);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return Status::NotFound("no hold for " + job);
  EscrowState& s = it->second;
  if (s.released) return Status::FailedPrecondition("the hold of " + job + " was released already");
  if (s.attempt_open)
    return Status::FailedPrecondition("attempt " + std::to_string(s.attempt) + " of " + job +
                                      " is still open; end it before the release");
  if (ledger.Balance(EscrowAccount(job_id)) != s.held)
    return Status::Internal("escrow of " + job + " holds " +
                            std::to_string(ledger.Balance(EscrowAccount(job_id))) +
                            " but the book says " + std::to_string(s.held));
  Transaction tx{"release", "release:" + std::to_string(job_id), "refund of the rest of " + job + "'s hold", {}};
  if (s.held > 0) {
    tx.entries = {{EscrowAccount(job_id), -s.held}, {s.payer_wallet, s.held}};
    GM_RETURN_IF_ERROR(ledger.Apply(tx));
  }
  s.refunded += s.held;
  s.held = 0;
  s.released = true;
  return tx;
}

Status EscrowBook::Forget(int64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return Status::NotFound("no hold for " + JobName(job_id));
  if (!it->second.released)
    return Status::FailedPrecondition("the hold of " + JobName(job_id) + " is not released");
  jobs_.erase(it);
  return Status::OK();
}

// ---- JSON ------------------------------------------------------------------------

namespace {

// Applied record seqs as runs [first, step, count] of arithmetic progressions:
// a node's records mostly arrive in order (step 1), or interleaved with other
// jobs' at a steady stride, so a job's state stays a few bytes however many
// records it settled (the store rewrites it with every batch).
json SeqRuns(const std::vector<int64_t>& seqs) {
  json out = json::array();
  for (size_t i = 0; i < seqs.size();) {
    int64_t step = i + 1 < seqs.size() ? seqs[i + 1] - seqs[i] : 0;
    size_t k = i + 1;
    while (k < seqs.size() && seqs[k] - seqs[k - 1] == step) ++k;
    out.push_back(json::array({seqs[i], step, static_cast<int64_t>(k - i)}));
    i = k;
  }
  return out;
}

// Reads runs, or plain seqs (both may appear).
std::vector<int64_t> SeqsFrom(const json& j) {
  std::vector<int64_t> out;
  for (const auto& e : j) {
    if (e.is_array()) {
      int64_t first = e.at(0).get<int64_t>(), step = e.at(1).get<int64_t>(), count = e.at(2).get<int64_t>();
      if (count < 1 || count > (int64_t{1} << 32)) throw std::invalid_argument("bad run of record seqs");
      for (int64_t n = 0; n < count; ++n) out.push_back(first + n * step);
    } else {
      out.push_back(e.get<int64_t>());
    }
  }
  return out;
}

}  // namespace

void to_json(json& j, const EscrowState& s) {
  json meters = json::array();
  for (const auto& m : s.meters)
    meters.push_back({{"node_id", m.node.node_id}, {"provider_wallet", m.node.provider_wallet},
                      {"price", m.node.price_per_gpu_hour}, {"gpus", m.node.gpus},
                      {"gpu_ms", m.gpu_ms}, {"fault_gpu_ms", m.fault_gpu_ms},
                      {"ignored_gpu_ms", m.ignored_gpu_ms}, {"charged", m.charged},
                      {"provider", m.provider}, {"burned", m.burned}});
  json records = json::object();
  for (const auto& [node, seqs] : s.records) records[node] = SeqRuns(seqs);
  j = json{{"job_id", s.job_id}, {"payer_wallet", s.payer_wallet}, {"attempt", s.attempt},
           {"attempt_open", s.attempt_open}, {"time_limit_ms", s.time_limit_ms},
           {"held", s.held}, {"charged", s.charged}, {"refunded", s.refunded},
           {"meters", meters}, {"records", records}, {"released", s.released}};
}

void from_json(const json& j, EscrowState& s) {
  s = EscrowState{};
  j.at("job_id").get_to(s.job_id);
  j.at("payer_wallet").get_to(s.payer_wallet);
  j.at("attempt").get_to(s.attempt);
  j.at("attempt_open").get_to(s.attempt_open);
  j.at("time_limit_ms").get_to(s.time_limit_ms);
  j.at("held").get_to(s.held);
  j.at("charged").get_to(s.charged);
  j.at("refunded").get_to(s.refunded);
  for (const auto& m : j.at("meters")) {
    NodeMeter x;
    m.at("node_id").get_to(x.node.node_id);
    m.at("provider_wallet").get_to(x.node.provider_wallet);
    m.at("price").get_to(x.node.price_per_gpu_hour);
    m.at("gpus").get_to(x.node.gpus);
    m.at("gpu_ms").get_to(x.gpu_ms);
    m.at("fault_gpu_ms").get_to(x.fault_gpu_ms);
    m.at("ignored_gpu_ms").get_to(x.ignored_gpu_ms);
    m.at("charged").get_to(x.charged);
    m.at("provider").get_to(x.provider);
    m.at("burned").get_to(x.burned);
    s.meters.push_back(std::move(x));
  }
  for (const auto& [node, runs] : j.at("records").items()) s.records[node] = SeqsFrom(runs);
  for (auto& [node, seqs] : s.records) {  // the lookups need sorted, unique lists
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  }
  j.at("released").get_to(s.released);
}

}  // namespace gm::acct
