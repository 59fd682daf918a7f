// The documented settlement rule (INSTALL.md, Money), written out again for
// the integration tests, independently of the accounting core: they compute
// what a job must cost from it and compare with what the controller booked.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gm::itest {

constexpr int64_t kMicrosPerToken = 1'000'000;
constexpr int64_t kMsPerHour = 3'600'000;
constexpr int64_t kProviderShareBp = 9200;  // 92 % of each charge to the provider
constexpr int64_t kFeeBurnBp = 2500;        // a quarter of the 8 % fee is burned
// gmctld's default genesis: 1,000,000,000 tokens, 40 % into the rewards pool,
// the rest to the treasury.
constexpr int64_t kGenesisSupply = 1'000'000'000LL * kMicrosPerToken;
constexpr int64_t kGenesisPoolBp = 4000;

inline int64_t FloorMulDiv(int64_t a, int64_t b, int64_t c) {
  return static_cast<int64_t>(static_cast<__int128>(a) * b / c);
}
inline int64_t GenesisPool() { return FloorMulDiv(kGenesisSupply, kGenesisPoolBp, 10'000); }
inline int64_t GenesisTreasury() { return kGenesisSupply - GenesisPool(); }

// One node's charge for `gpus` GPUs over `ms`, split by the rule.
struct Split {
  int64_t charge = 0, provider = 0, treasury = 0, burned = 0;
};
inline Split SplitFor(int64_t price, int gpus, int64_t ms) {
  Split s;
  s.charge = FloorMulDiv(price * gpus, ms, kMsPerHour);
  s.provider = FloorMulDiv(s.charge, kProviderShareBp, 10'000);
  int64_t fee = s.charge - s.provider;
  s.burned = FloorMulDiv(fee, kFeeBurnBp, 10'000);
  s.treasury = fee - s.burned;
  return s;
}

// A job's ledger transactions (GET /api/v1/jobs/ID "transactions"), summed.
struct JobBooks {
  int64_t held = 0;      // moved from the payer into escrow:JOB
  int64_t refunded = 0;  // moved from escrow:JOB back to the payer
  int64_t treasury = 0;  // fees kept
  int64_t burned = 0;    // fees burned
  std::map<std::string, int64_t> shares;  // provider account → share
  int usage_txs = 0;     // settled usage records
  int64_t Charge() const { return held - refunded; }
  int64_t Fee() const { return treasury + burned; }
};

inline JobBooks BooksOf(const nlohmann::json& job, const std::string& payer) {
  JobBooks b;
  const std::string escrow = "escrow:" + std::to_string(job["id"].get<int64_t>());
  for (const auto& t : job["transactions"]) {
    int64_t sum = 0;
    b.usage_txs += t["kind"] == "usage";
    for (const auto& e : t["entries"]) {
      std::string a = e["account"];
      int64_t amount = e["amount"];
      sum += amount;
      if (a == "user:" + payer) (amount < 0 ? b.held : b.refunded) += amount < 0 ? -amount : amount;
      else if (a == "treasury") b.treasury += amount;
      else if (a == "burn") b.burned += amount;
      else if (a.rfind("provider:", 0) == 0) b.shares[a.substr(9)] += amount;
      else if (a != escrow) ADD_FAILURE() << "unexpected ledger account " << a << " in " << job.dump();
    }
    EXPECT_EQ(sum, 0) << "transaction does not balance: " << t.dump();
  }
  return b;
}

}  // namespace gm::itest
