// Shared pieces of the gm command: how a command reaches the controller, how
// it fails (Slurm's "command: error: …" style), and table formatting.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http.h"
#include "common/status.h"

namespace gm::cli {

using json = nlohmann::json;

// Where to find the controller: flags first, then GM_CONTROLLER, GM_CA, GM_TOKEN.
struct Connection {
  std::string controller, ca, token;
};

// Pulls --controller/--ca/--token (either "--x V" or "--x=V") out of args,
// leaving the rest, then fills the gaps from the environment.
Connection TakeConnection(std::vector<std::string>& args);
Result<std::unique_ptr<ApiClient>> Connect(const Connection& c, int read_timeout_s = 30);

// Prints "<cmd>: error: <message>" to stderr and returns `code`.
int Fail(const std::string& cmd, const std::string& message, int code = 1);

// Fixed-width columns, as squeue/sinfo/sacct print them. A negative width
// right-aligns; values longer than the width are cut, as Slurm cuts them.
std::string Column(const std::string& value, int width);

std::string Env(const char* name, const std::string& dflt = "");
std::map<std::string, std::string> Environment();
std::string Cwd();
int64_t NowMs();
std::string ExeDir();  // directory of the running gm binary (gmctld and gmd sit beside it)
std::string FormatTime(int64_t unix_ms);  // 2026-11-22T03:04:05, as sacct prints
int64_t LocalTzOffset(int64_t unix_ms);   // seconds east of UTC at that moment, local time zone

int CmdSbatch(std::vector<std::string> args);
int CmdSqueue(std::vector<std::string> args);
int CmdScancel(std::vector<std::string> args);
int CmdSinfo(std::vector<std::string> args);
int CmdSacct(std::vector<std::string> args);
int CmdScontrol(std::vector<std::string> args);
int CmdFetch(std::vector<std::string> args);
int CmdWallet(std::vector<std::string> args);
int CmdAdmin(std::vector<std::string> args);
int CmdLocal(std::vector<std::string> args);
int CmdNode(std::vector<std::string> args);
int CmdMarket(std::vector<std::string> args);
int CmdSprio(std::vector<std::string> args);

// POST /api/v1/nodes/NODE/VERB (drain, resume, detach) with `body`; "" on
// success (the answer in *answer when given), else the controller's error.
std::string NodeControl(ApiClient& api, const std::string& node, const std::string& verb, const json& body,
                        json* answer);
// cli/ledger.cc
int CmdLedger(std::vector<std::string> args);
int CmdStake(const std::string& op, std::vector<std::string> args);  // stake, unstake, withdraw
int CmdRewards(std::vector<std::string> args);
int CmdSreport(std::vector<std::string> args);

// Downloads a job's output files. `dest_dir` empty: to the paths the job named
// (relative ones against the job's submit directory), as Slurm users expect.
Status FetchOutputs(ApiClient& api, int64_t job_id, const std::string& dest_dir, bool progress,
                    std::vector<std::string>* written);

}  // namespace gm::cli
