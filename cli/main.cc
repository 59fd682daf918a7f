// gm: GridMint's command line. Slurm's commands under their own names
// (gm sbatch, gm squeue, …) and GridMint's own (wallet, fetch, admin, local, node).
#include <signal.h>

#include <iostream>

#include "cli/cli.h"

namespace {

constexpr const char* kUsage = R"(Usage: gm COMMAND [OPTIONS]

Slurm's commands, answering as Slurm does:
  sbatch     submit a batch script              squeue     list pending and running jobs
  scancel    cancel or signal jobs              sinfo      show partitions and nodes
  sacct      show finished and running jobs      scontrol   show, hold, release, requeue, update
  sprio      priority factors of pending jobs

GridMint's own:
  fetch      download a job's output files      wallet     balances, holds, stake and history
  admin      accounts, tokens, minting          local      a controller and workers on loopback
  node       list, show, drain, resume, detach provider nodes
  market     per GPU model: nodes, free GPUs, asks, waiting jobs, utilisation
  ledger     verify, export, prove, supply      sreport    spend, earnings, utilisation per period
  stake      bond tokens to a node              unstake    start unbonding (--early: burn 5 %)
  withdraw   collect matured unbonding stake    rewards    preview the next reward epoch

Every command that talks to a controller takes --controller URL, --ca FILE and
--token TOKEN, or reads GM_CONTROLLER, GM_CA and GM_TOKEN. 'gm COMMAND --help'
tells more; docs/gm-COMMAND.md is each command's reference page.
)";

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  using namespace gm::cli;
  if (cmd == "sbatch") return CmdSbatch(args);
  if (cmd == "squeue") return CmdSqueue(args);
  if (cmd == "scancel") return CmdScancel(args);
  if (cmd == "sinfo") return CmdSinfo(args);
  if (cmd == "sacct") return CmdSacct(args);
  if (cmd == "scontrol") return CmdScontrol(args);
  if (cmd == "fetch") return CmdFetch(args);
  if (cmd == "wallet") return CmdWallet(args);
  if (cmd == "admin") return CmdAdmin(args);
  if (cmd == "local") return CmdLocal(args);
  if (cmd == "node") return CmdNode(args);
  if (cmd == "market") return CmdMarket(args);
  if (cmd == "sprio") return CmdSprio(args);
  if (cmd == "ledger") return CmdLedger(args);
  if (cmd == "stake" || cmd == "unstake" || cmd == "withdraw") return CmdStake(cmd, args);
  if (cmd == "rewards") return CmdRewards(args);
  if (cmd == "sreport") return CmdSreport(args);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") {
    std::cout << "gridmint 0.1.0\n";
    return 0;
  }
  std::cerr << "gm: error: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
