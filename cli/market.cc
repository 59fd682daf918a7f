// gm market: per GPU model, what the federation offers and what waits for it.
#include <iostream>

#include "cli/cli.h"
#include "cli/format.h"
#include "cli/options.h"

namespace gm::cli {

namespace {

const std::vector<OptSpec> kMarketOptions = {
    {'h', "noheader", false, "", "print no header line"},
    {0, "help", false, "", "show this help"},
    {0, "json", false, "", "print the controller's figures as JSON (asks in micro-tokens)"},
    {'P', "parsable2", false, "", "fields separated by '|', without a trailing '|'"},
};

}  // namespace

int CmdMarket(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  auto parsed = ParseOptions(args, kMarketOptions);
  if (!parsed.ok()) return Fail("market", parsed.status().message(), 2);
  bool header = true, parsable = false, as_json = false;
  for (const auto& [opt, value] : parsed->options) {
    std::string name = opt->long_name;
    if (name == "help") {
      std::cout << OptionHelp("gm market [OPTIONS]",
                              "Per GPU model: nodes taking work, their GPUs and free GPUs, the lowest and\n"
                              "median ask (tokens per GPU-hour), pending jobs asking for the model, and\n"
                              "utilisation.",
                              kMarketOptions);
      return 0;
    }
    if (name == "noheader") header = false;
    else if (name == "json") as_json = true;
    else if (name == "parsable2") parsable = true;
  }
  if (!parsed->operands.empty()) return Fail("market", "unrecognized argument '" + parsed->operands[0] + "'", 2);
  auto api = Connect(conn);
  if (!api.ok()) return Fail("market", api.status().message());
  auto r = (*api)->Get("/api/v1/market");
  if (!r.ok()) return Fail("market", r.status().message());
  if (as_json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  std::cout << RenderMarket(*r, header, parsable);
  return 0;
}

}  // namespace gm::cli
