// gm wallet and gm admin: balances, history, accounts, tokens, minting.
#include <iostream>

#include "cli/cli.h"
#include "common/money.h"

namespace gm::cli {

int CmdWallet(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  std::string account;
  int limit = 20;
  bool as_json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") as_json = true;
    else if (a == "--account" && i + 1 < args.size()) account = args[++i];
    else if (a.rfind("--account=", 0) == 0) account = a.substr(10);
    else if (a == "--history" && i + 1 < args.size()) limit = std::atoi(args[++i].c_str());
    else if (a == "--help") {
      std::cout << "Usage: gm wallet [--account NAME] [--history N] [--json]\n"
                   "Shows the available and held balance of your wallet (or, for an admin,\n"
                   "NAME's), what it earned as a provider, and its latest transactions.\n";
      return 0;
    } else return Fail("wallet", "unrecognized option '" + a + "'");
  }
  if (limit < 1) return Fail("wallet", "--history needs a positive count");
  auto api = Connect(conn);
  if (!api.ok()) return Fail("wallet", api.status().message());
  std::string path = "/api/v1/wallet?limit=" + std::to_string(limit);
  if (!account.empty()) path += "&account=" + UrlEncode(account);
  auto r = (*api)->Get(path);
  if (!r.ok()) return Fail("wallet", r.status().message());
  if (as_json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  const json& w = *r;
  std::cout << "Account:    " << w["account"].get<std::string>() << "\n"
            << "Available:  " << FormatTokens(w["available"].get<int64_t>()) << " tokens (user:"
            << w["account"].get<std::string>() << ")\n"
            << "Held:       " << FormatTokens(w["held"].get<int64_t>())
            << " tokens (escrow of running and requeued jobs)\n";
  for (const auto& h : w.value("holds", json::array()))
    std::cout << "  " << Column(h["account"], 18) << " " << FormatTokens(h["held"].get<int64_t>()) << "\n";
  std::cout << "Earned:     " << FormatTokens(w["earned"].get<int64_t>()) << " tokens (provider:"
            << w["account"].get<std::string>() << ")\n";
  for (const auto& s : w.value("stake", json::array()))
    std::cout << "Stake:      node " << s["name"].get<std::string>() << " (" << s["node_id"].get<std::string>()
              << "): bonded " << FormatTokens(s["bonded"].get<int64_t>()) << ", unbonding "
              << FormatTokens(s["unbonding"].get<int64_t>()) << ", trust level " << s["trust_level"].get<int>()
              << (s["banned"].get<bool>() ? ", BANNED" : "") << (s["draining"].get<bool>() ? ", drained for review" : "")
              << "\n";
  if (w.contains("system")) {
    const json& sys = w["system"];
    std::cout << "Treasury:   " << FormatTokens(sys["treasury"].get<int64_t>()) << " tokens\n"
              << "Rewards:    " << FormatTokens(sys["rewards_pool"].get<int64_t>()) << " tokens (pool)\n"
              << "Burned:     " << FormatTokens(sys["burn"].get<int64_t>()) << " tokens\n"
              << "Minted:     " << FormatTokens(sys["minted"].get<int64_t>()) << " tokens\n";
  }
  if (w["history"].empty()) return 0;
  std::cout << "\n" << Column("TX", 6) << " " << Column("TIME", 19) << " " << Column("KIND", 7) << " "
            << Column("AMOUNT", -18) << "  MEMO\n";
  for (const auto& h : w["history"])
    std::cout << Column(std::to_string(h["tx"].get<int64_t>()), 6) << " "
              << Column(FormatTime(h["time_ms"].get<int64_t>()), 19) << " " << Column(h["kind"], 7) << " "
              << Column(FormatTokens(h["amount"].get<int64_t>()), -18) << "  "
              << h["memo"].get<std::string>() << "\n";
  return 0;
}

namespace {

constexpr const char* kAdminUsage = R"(Usage:
  gm admin account create NAME [--role user|provider|admin]   create an account, print its API token
  gm admin token ACCOUNT                                      issue another API token for ACCOUNT
  gm admin enroll-token ACCOUNT                               enrollment token for a provider's machines
  gm admin mint ACCOUNT AMOUNT [--provider] [--ref REF]       mint AMOUNT tokens into ACCOUNT's wallet
                                                              (--provider: its provider wallet; a repeated
                                                              REF is refused, so a retry cannot mint twice)
Needs an admin token (the controller writes the first one to STATE/admin.token).
)";

int PrintOr(const Result<json>& r, const std::function<void(const json&)>& print) {
  if (!r.ok()) return Fail("admin", r.status().message());
  print(*r);
  return 0;
}

}  // namespace

int CmdAdmin(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kAdminUsage;
    return args.empty() ? 2 : 0;
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("admin", api.status().message());
  const std::string& sub = args[0];
  if (sub == "account" && args.size() >= 3 && args[1] == "create") {
    std::string role = "user";
    for (size_t i = 3; i < args.size(); ++i) {
      if (args[i] == "--role" && i + 1 < args.size()) role = args[++i];
      else if (args[i].rfind("--role=", 0) == 0) role = args[i].substr(7);
      else return Fail("admin", "unexpected argument '" + args[i] + "'");
    }
    return PrintOr((*api)->Post("/api/v1/admin/accounts", json{{"name", args[2]}, {"role", role}}),
                   [](const json& j) { std::cout << j["token"].get<std::string>() << "\n"; });
  }
  if (sub == "token" && args.size() == 2)
    return PrintOr((*api)->Post("/api/v1/admin/tokens", json{{"account", args[1]}}),
                   [](const json& j) { std::cout << j["token"].get<std::string>() << "\n"; });
  if (sub == "enroll-token" && args.size() == 2)
    return PrintOr((*api)->Post("/api/v1/admin/enroll-tokens", json{{"account", args[1]}}),
                   [](const json& j) { std::cout << j["enroll_token"].get<std::string>() << "\n"; });
  if (sub == "mint" && args.size() >= 3) {
    auto amount = ParseTokens(args[2], "amount");
    if (!amount.ok()) return Fail("admin", amount.status().message());
    if (*amount <= 0) return Fail("admin", "amount must be positive");
    json body{{"account", args[1]}, {"amount", *amount}};
    for (size_t i = 3; i < args.size(); ++i) {
      if (args[i] == "--provider") body["wallet"] = "provider";
      else if (args[i] == "--ref" && i + 1 < args.size()) body["ref"] = args[++i];
      else return Fail("admin", "unexpected argument '" + args[i] + "'", 2);
    }
    return PrintOr((*api)->Post("/api/v1/admin/mint", body),
                   [](const json& j) {
                     std::cout << "minted " << FormatTokens(j["amount"].get<int64_t>()) << " to "
                               << j["wallet"].get<std::string>() << "; available "
                               << FormatTokens(j["available"].get<int64_t>()) << "\n";
                   });
  }
  std::cerr << kAdminUsage;
  return Fail("admin", "unknown or incomplete admin command", 2);
}

}  // namespace gm::cli
