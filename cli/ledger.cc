// gm ledger, gm stake/unstake/withdraw, gm rewards and gm sreport: the audit
// trail, staking, rewards and accounting reports, over the controller's API.
#include <time.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "common/money.h"

namespace gm::cli {

namespace {

constexpr const char* kLedgerUsage = R"(Usage:
  gm ledger verify [--pubkey HEX] [--json]   re-derive every balance and Merkle root from the stored
                                             transactions and check every epoch signature (admin);
                                             prints where it breaks and exits 1 then
  gm ledger export --epoch N [--output FILE] an epoch's root, signature and per-transaction
                                             inclusion proofs as JSON, for anchoring (admin)
  gm ledger prove TXID                       one transaction's inclusion proof as JSON (admin)
  gm ledger supply [--json]                  minted, burned, circulating and the sum of balances
                                             (--json: integer micro-tokens)
)";

int Usage(const std::string& cmd, const char* usage, const std::string& why) {
  std::cerr << usage;
  return Fail(cmd, why, 2);
}

void PrintJson(const json& j) { std::cout << j.dump(2) << "\n"; }

int LedgerVerify(ApiClient& api, const std::vector<std::string>& args) {
  std::string path = "/api/v1/ledger/verify", pubkey;
  bool as_json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--json") as_json = true;
    else if (args[i] == "--pubkey" && i + 1 < args.size()) pubkey = args[++i];
    else if (args[i].rfind("--pubkey=", 0) == 0) pubkey = args[i].substr(9);
    else return Usage("ledger", kLedgerUsage, "unexpected argument '" + args[i] + "'");
  }
  if (!pubkey.empty()) path += "?pubkey=" + UrlEncode(pubkey);
  auto r = api.Get(path);
  if (!r.ok()) return Fail("ledger", r.status().message());
  const json& v = *r;
  if (as_json) PrintJson(v);
  if (v["ok"].get<bool>()) {
    if (!as_json) {
      const json& s = v["supply"];
      std::cout << "ledger verified: " << v["transactions"].get<int64_t>() << " transactions, "
                << v["epochs"].get<int64_t>() << " sealed epochs (" << v["unsealed"].get<int64_t>()
                << " transactions not sealed yet), every signature checked with key "
                << v["pubkey"].get<std::string>() << "\n"
                << "balances re-derived and equal to the stored ones; minted "
                << FormatTokens(s["minted"].get<int64_t>()) << ", burned " << FormatTokens(s["burned"].get<int64_t>())
                << ", sum of balances " << FormatTokens(s["sum_of_balances"].get<int64_t>()) << "\n";
      std::cout << "reading " << v["read_s"].get<double>() << " s, verifying " << v["verify_s"].get<double>()
                << " s\n";
    }
    return 0;
  }
  if (!as_json)
    for (const auto& p : v["problems"]) std::cout << p["text"].get<std::string>() << "\n";
  return Fail("ledger", "verification FAILED: " + std::to_string(v["problems"].size()) + " problem(s)" +
                            (v["truncated"].get<bool>() ? " (and more)" : "") + "; the first: " +
                            v["problems"][0]["text"].get<std::string>());
}

int LedgerExport(ApiClient& api, const std::vector<std::string>& args) {
  std::string epoch, output;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--epoch" && i + 1 < args.size()) epoch = args[++i];
    else if (args[i].rfind("--epoch=", 0) == 0) epoch = args[i].substr(8);
    else if (args[i] == "--output" && i + 1 < args.size()) output = args[++i];
    else return Usage("ledger", kLedgerUsage, "unexpected argument '" + args[i] + "'");
  }
  if (epoch.empty() || epoch.find_first_not_of("0123456789") != std::string::npos || std::stoll(epoch) < 1)
    return Usage("ledger", kLedgerUsage, "export needs --epoch N (a positive epoch number)");
  auto r = api.Get("/api/v1/ledger/epochs/" + epoch);
  if (!r.ok()) return Fail("ledger", r.status().message());
  if (output.empty()) {
    PrintJson(*r);
    return 0;
  }
  std::ofstream out(output);
  out << r->dump(2) << "\n";
  if (!out) return Fail("ledger", "cannot write " + output);
  std::cerr << "epoch " << epoch << " written to " << output << "\n";
  return 0;
}

int LedgerSupply(ApiClient& api, const std::vector<std::string>& args) {
  bool as_json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--json") as_json = true;
    else return Usage("ledger", kLedgerUsage, "unexpected argument '" + args[i] + "'");
  }
  auto r = api.Get("/api/v1/ledger/supply");
  if (!r.ok()) return Fail("ledger", r.status().message());
  const json& s = *r;
  if (as_json) {
    PrintJson(json{{"minted", s["minted"]}, {"burned", s["burned"]}, {"circulating", s["circulating"]},
                   {"sum_of_balances", s["sum_of_balances"]}});
    return 0;
  }
  auto line = [&](const char* name, const char* key) {
    std::cout << Column(name, 16) << Column(FormatTokens(s[key].get<int64_t>()), -24) << " tokens\n";
  };
  line("minted", "minted");
  line("burned", "burned");
  line("circulating", "circulating");
  line("sum of balances", "sum_of_balances");
  line("  rewards pool", "rewards_pool");
  line("  treasury", "treasury");
  std::cout << (s["balanced"].get<bool>() ? "minted − burned = sum of balances\n"
                                          : "WARNING: minted − burned ≠ sum of balances\n");
  return s["balanced"].get<bool>() ? 0 : 1;
}

// --node N, an amount and --early, shared by stake, unstake and withdraw.
struct StakeArgs {
  std::string node;
  std::string amount;
  bool early = false;
};

}  // namespace

int CmdLedger(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kLedgerUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& sub = args[0];
  if (sub != "verify" && sub != "export" && sub != "prove" && sub != "supply")
    return Usage("ledger", kLedgerUsage, "unknown ledger command '" + sub + "'");
  if (sub == "prove" && (args.size() != 2 || args[1].empty() ||
                         args[1].find_first_not_of("0123456789") != std::string::npos))
    return Usage("ledger", kLedgerUsage, "prove needs one transaction id (a positive integer)");
  auto api = Connect(conn);
  if (!api.ok()) return Fail("ledger", api.status().message());
  if (sub == "verify") return LedgerVerify(**api, args);
  if (sub == "export") return LedgerExport(**api, args);
  if (sub == "supply") return LedgerSupply(**api, args);
  auto r = (*api)->Get("/api/v1/ledger/tx/" + args[1] + "/proof");
  if (!r.ok()) return Fail("ledger", r.status().message());
  PrintJson(*r);
  return 0;
}

// gm stake AMOUNT --node N | gm unstake AMOUNT --node N [--early] | gm withdraw --node N
int CmdStake(const std::string& op, std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  std::string usage = op == "withdraw" ? "Usage: gm withdraw --node NODE\n"
                                         "Moves the node's matured unbonding stake back to your provider wallet.\n"
                      : op == "stake"  ? "Usage: gm stake AMOUNT --node NODE\n"
                                         "Bonds AMOUNT tokens from your provider wallet to NODE (trust levels need stake).\n"
                                       : "Usage: gm unstake AMOUNT --node NODE [--early]\n"
                                         "Moves AMOUNT of NODE's stake into unbonding (withdraw it after the unbonding\n"
                                         "period with gm withdraw); --early skips the wait and burns a share (5 %).\n";
  StakeArgs a;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << usage;
      return 0;
    }
    if (args[i] == "--node" && i + 1 < args.size()) a.node = args[++i];
    else if (args[i].rfind("--node=", 0) == 0) a.node = args[i].substr(7);
    else if (args[i] == "--early" && op == "unstake") a.early = true;
    else if (args[i].rfind("-", 0) != 0 && a.amount.empty() && op != "withdraw") a.amount = args[i];
    else {
      std::cerr << usage;
      return Fail(op, "unexpected argument '" + args[i] + "'", 2);
    }
  }
  if (a.node.empty()) {
    std::cerr << usage;
    return Fail(op, "--node NODE is required", 2);
  }
  json body{{"node", a.node}};
  if (op != "withdraw") {
    if (a.amount.empty()) {
      std::cerr << usage;
      return Fail(op, "AMOUNT (tokens) is required", 2);
    }
    auto amount = ParseTokens(a.amount, "amount");
    if (!amount.ok()) return Fail(op, amount.status().message(), 2);
    if (*amount <= 0) return Fail(op, "amount must be positive", 2);
    body["amount"] = *amount;
    body["early"] = a.early;
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail(op, api.status().message());
  auto r = (*api)->Post("/api/v1/stake/" + op, body);
  if (!r.ok()) return Fail(op, r.status().message());
  const json& j = *r;
  std::cout << "node " << j["node_id"].get<std::string>() << ": bonded " << FormatTokens(j["bonded"].get<int64_t>())
            << ", unbonding " << FormatTokens(j["unbonding"].get<int64_t>()) << ", trust level "
            << j["trust_level"].get<int>() << "; provider wallet " << FormatTokens(j["wallet"].get<int64_t>())
            << "\n";
  return 0;
}

int CmdRewards(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  bool as_json = false;
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "Usage: gm rewards preview [--json]\n"
                 "What the next reward epoch would pay each provider node now, and why (tier, GPU-hours,\n"
                 "uptime, speed and success bonuses, stake multiplier).\n";
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "preview") return Fail("rewards", "unknown rewards command '" + args[0] + "'", 2);
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--json") as_json = true;
    else return Fail("rewards", "unexpected argument '" + args[i] + "'", 2);
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("rewards", api.status().message());
  auto r = (*api)->Get("/api/v1/rewards/preview");
  if (!r.ok()) return Fail("rewards", r.status().message());
  if (as_json) {
    json j = *r;
    j.erase("text");
    PrintJson(j);
  } else {
    std::cout << (*r)["text"].get<std::string>();
    std::cout << "next emission at " << FormatTime((*r)["next_emission_ms"].get<int64_t>()) << "\n";
  }
  return 0;
}

namespace {

// YYYY-MM-DD (UTC midnight) → Unix ms.
Result<int64_t> ParseDay(const std::string& text, const char* what) {
  struct tm tm = {};
  const char* end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  if (!end || *end) return Status::InvalidArgument(std::string(what) + " wants a date YYYY-MM-DD, not '" + text + "'");
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::string Hours(int64_t gpu_ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(gpu_ms / 3'600'000),
           static_cast<long long>(gpu_ms % 3'600'000 / 3600));
  return buf;
}

std::string Percent(int64_t bp) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld.%02lld%%", static_cast<long long>(bp / 100), static_cast<long long>(bp % 100));
  return buf;
}

}  // namespace

int CmdSreport(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  std::string period = "day", from, to;
  bool as_json = false, as_csv = false;
  const char* usage =
      "Usage: gm sreport [--period day|week|month] [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--csv | --json]\n"
      "User spend, provider earnings and GPU utilisation per GPU model, per period (UTC), from the\n"
      "settled usage records. Default: the last 30 days, per day. An admin sees every account; others\n"
      "their own spend and earnings. Amounts in tokens (--json: integer micro-tokens, GPU-ms).\n";
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&](const char* flag, std::string* out) {
      std::string f = flag;
      if (args[i] == f && i + 1 < args.size()) return *out = args[++i], true;
      if (args[i].rfind(f + "=", 0) == 0) return *out = args[i].substr(f.size() + 1), true;
      return false;
    };
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << usage;
      return 0;
    }
    if (value("--period", &period) || value("--start", &from) || value("--end", &to)) continue;
    if (args[i] == "--json") as_json = true;
    else if (args[i] == "--csv") as_csv = true;
    else {
      std::cerr << usage;
      return Fail("sreport", "unexpected argument '" + args[i] + "'", 2);
    }
  }
  if (period != "day" && period != "week" && period != "month")
    return Fail("sreport", "--period must be day, week or month, not '" + period + "'", 2);
  if (as_json && as_csv) return Fail("sreport", "--csv and --json exclude each other", 2);
  std::string path = "/api/v1/reports?period=" + period;
  int64_t from_ms = 0, to_ms = 0;
  if (!to.empty()) {
    auto t = ParseDay(to, "--end");
    if (!t.ok()) return Fail("sreport", t.status().message(), 2);
    to_ms = *t + 86'400'000;  // the end day is included
    path += "&to_ms=" + std::to_string(to_ms);
  }
  if (!from.empty()) {
    auto f = ParseDay(from, "--start");
    if (!f.ok()) return Fail("sreport", f.status().message(), 2);
    from_ms = *f;
    if (to_ms && from_ms >= to_ms) return Fail("sreport", "--start must not be after --end", 2);
    path += "&from_ms=" + std::to_string(from_ms);
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("sreport", api.status().message());
  auto r = (*api)->Get(path);
  if (!r.ok()) return Fail("sreport", r.status().message());
  const json& j = *r;
  if (as_json) {
    PrintJson(j);
    return 0;
  }
  if (as_csv) {
    std::cout << "section,period,name,jobs,gpu_ms,micro_tokens,fee,burned,capacity_gpu_ms,utilisation_bp\n";
    for (const auto& u : j["user_spend"])
      std::cout << "user_spend," << u["period"].get<std::string>() << "," << u["user"].get<std::string>() << ","
                << u["jobs"] << "," << u["gpu_ms"] << "," << u["charged"] << "," << u["fee"] << "," << u["burned"]
                << ",,\n";
    for (const auto& p : j["provider_earnings"])
      std::cout << "provider_earnings," << p["period"].get<std::string>() << "," << p["provider"].get<std::string>()
                << ",," << p["gpu_ms"] << "," << p["earned"] << ",,,,\n";
    for (const auto& g : j["utilisation"])
      std::cout << "utilisation," << g["period"].get<std::string>() << "," << g["gpu_model"].get<std::string>()
                << ",," << g["gpu_ms"] << ",,,," << g["capacity_gpu_ms"] << "," << g["utilisation_bp"] << "\n";
    return 0;
  }
  std::cout << "User spend (" << period << ")\n"
            << Column("PERIOD", 11) << " " << Column("USER", 16) << " " << Column("JOBS", -6) << " "
            << Column("GPU-HOURS", -12) << " " << Column("CHARGED", -18) << " " << Column("FEE", -16) << "\n";
  for (const auto& u : j["user_spend"])
    std::cout << Column(u["period"], 11) << " " << Column(u["user"], 16) << " "
              << Column(std::to_string(u["jobs"].get<int64_t>()), -6) << " "
              << Column(Hours(u["gpu_ms"].get<int64_t>()), -12) << " "
              << Column(FormatTokens(u["charged"].get<int64_t>()), -18) << " "
              << Column(FormatTokens(u["fee"].get<int64_t>()), -16) << "\n";
  std::cout << "\nProvider earnings (" << period << ")\n"
            << Column("PERIOD", 11) << " " << Column("PROVIDER", 16) << " " << Column("GPU-HOURS", -12) << " "
            << Column("EARNED", -18) << "\n";
  for (const auto& p : j["provider_earnings"])
    std::cout << Column(p["period"], 11) << " " << Column(p["provider"], 16) << " "
              << Column(Hours(p["gpu_ms"].get<int64_t>()), -12) << " "
              << Column(FormatTokens(p["earned"].get<int64_t>()), -18) << "\n";
  std::cout << "\nUtilisation per GPU model (" << period << "; capacity: the GPUs registered now)\n"
            << Column("PERIOD", 11) << " " << Column("GPU MODEL", 16) << " " << Column("GPU-HOURS", -12) << " "
            << Column("CAPACITY", -12) << " " << Column("USED", -8) << "\n";
  for (const auto& g : j["utilisation"])
    std::cout << Column(g["period"], 11) << " " << Column(g["gpu_model"], 16) << " "
              << Column(Hours(g["gpu_ms"].get<int64_t>()), -12) << " "
              << Column(Hours(g["capacity_gpu_ms"].get<int64_t>()), -12) << " "
              << Column(Percent(g["utilisation_bp"].get<int64_t>()), -8) << "\n";
  if (j.contains("totals"))
    std::cout << "\nTotal charged " << FormatTokens(j["totals"]["charged"].get<int64_t>()) << ", fees "
              << FormatTokens(j["totals"]["fee"].get<int64_t>()) << " (burned "
              << FormatTokens(j["totals"]["burned"].get<int64_t>()) << ")\n";
  return 0;
}

}  // namespace gm::cli
