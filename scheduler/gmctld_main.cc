// gmctld: the GridMint controller. The composition root: builds the real
// clock, store and server and runs them until SIGTERM/SIGINT.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "accounting/accounting.h"
#include "common/money.h"
#include "common/slurm_time.h"
#include "scheduler/controller.h"
#include "scheduler/partition_config.h"

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage = R"(Usage: gmctld [OPTIONS]

The GridMint controller: accepts jobs from gm, matches them to provider nodes
run by gmd, and settles their cost. Serves HTTPS+JSON; on first start it
creates its state directory with a self-signed TLS certificate (tls.crt is the
CA file clients trust), an SQLite database and an admin API token
(admin.token, mode 0600).

Options)";

gm::Result<int64_t> Seconds(const std::string& text, const std::string& what) {
  auto r = gm::ParseTimeLimit(text);
  if (!r.ok()) return gm::Status::InvalidArgument(what + ": " + r.status().message());
  if (!r->has_value()) return gm::Status::InvalidArgument(what + " cannot be UNLIMITED");
  return **r;
}

}  // namespace

int main(int argc, char** argv) {
  gm::ControllerConfig cfg;
  std::string listen, config_file, default_limit, max_limit, log_level;
  int heartbeat_timeout_s = 30, kill_grace_s = 30, fee_bp = 800;
  double full_pass_s = 10;
  std::vector<std::string> partitions, site_rtts, genesis_allocations, gpu_tiers;
  std::string genesis_supply;
  int64_t unbonding_s = 0;
  gm::acct::AccountingConfig& ac = cfg.accounting;
  bool no_backfill = false;
  gm::sched::ScoreWeights& w = cfg.sched.score;
  gm::sched::PriorityWeights& pw = cfg.sched.priority;
  po::options_description desc(kUsage);
  desc.add_options()
      ("help,h", "show this help")
      ("state-dir", po::value(&cfg.state_dir)->default_value("/var/lib/gridmint/controller"),
       "state directory (database, TLS certificate, admin token, outputs)")
      ("database", po::value(&cfg.database),
       "where state lives: sqlite:PATH (default STATE/gridmint.db) or a PostgreSQL connection "
       "string (postgresql://USER@HOST/DB or 'host=… dbname=…')")
      ("listen", po::value(&listen)->default_value("127.0.0.1:6817"),
       "HOST:PORT to serve on; port 0 picks a free port (written to STATE/url)")
      ("tls-name", po::value(&cfg.tls_names)->multitoken(),
       "extra DNS name for the certificate made on first start (repeatable)")
      ("config", po::value(&config_file), "read options from this file (key = value, same names)")
      ("default-time-limit", po::value(&default_limit)->default_value("1:00:00"),
       "time limit of jobs that give none (Slurm time format)")
      ("max-time-limit", po::value(&max_limit)->default_value("7-00:00:00"),
       "longest time limit; UNLIMITED resolves to it (escrow needs a bound)")
      ("heartbeat-timeout", po::value(&heartbeat_timeout_s)->default_value(30),
       "seconds without heartbeat before a node is DOWN and its jobs requeued")
      ("kill-grace", po::value(&kill_grace_s)->default_value(30),
       "seconds between SIGTERM and SIGKILL at a job's time limit or cancel (Slurm's KillWait)")
      ("partition", po::value(&partitions)->multitoken()->composing(),
       "a partition: 'name=N [default=yes] [gpu-models=A,B] [regions=R,..] [features=F,..] "
       "[nodes=HOSTLIST] [min-trust=1-4] [default-time=T] [max-time=T]' (repeatable; none: one "
       "default partition 'main' over all nodes with --default-time-limit/--max-time-limit)")
      ("policy", po::value(&cfg.sched.policy)->default_value("score"),
       "node ranking: score, cheapest, fifo-firstfit, random")
      ("no-backfill", po::bool_switch(&no_backfill), "strict priority order: no EASY backfill")
      ("weight-price", po::value(&w.price)->default_value(1.0), "match score weight of a low price")
      ("weight-reputation", po::value(&w.reputation)->default_value(1.0), "match score weight of reputation")
      ("weight-latency", po::value(&w.latency)->default_value(0.25), "match score weight of low latency")
      ("weight-uptime", po::value(&w.uptime)->default_value(0.5), "match score weight of uptime")
      ("weight-power", po::value(&w.power)->default_value(0.25), "match score weight of measured TFLOPS")
      ("priority-weight-age", po::value(&pw.age)->default_value(1000), "PriorityWeightAge")
      ("priority-weight-fairshare", po::value(&pw.fairshare)->default_value(10000), "PriorityWeightFairshare")
      ("priority-weight-jobsize", po::value(&pw.job_size)->default_value(1000), "PriorityWeightJobSize")
      ("priority-weight-qos", po::value(&pw.qos)->default_value(1000), "PriorityWeightQOS")
      ("fairshare-half-life", po::value(&pw.usage_half_life_s)->default_value(7 * 86400),
       "seconds for past usage to count half (PriorityDecayHalfLife)")
      ("site-rtt", po::value(&site_rtts)->multitoken()->composing(),
       "measured round trip 'SITE_A,SITE_B,MS' (repeatable); sites closer than --max-group-rtt-ms "
       "form one locality group for multi-node jobs")
      ("full-pass-interval", po::value(&full_pass_s)->default_value(10.0),
       "seconds between full scheduling passes (priorities recomputed, every job searched anew; "
       "passes between look only at what changed), as Slurm's PriorityCalcPeriod")
      ("max-group-rtt-ms", po::value(&cfg.sched.max_group_rtt_ms)->default_value(5.0),
       "largest round trip inside one locality group")
      ("platform-fee-bp", po::value(&fee_bp)->default_value(800),
       "platform fee in basis points of each charge (800 = 8 %); the provider gets the rest")
      ("fee-burn-bp", po::value(&ac.fees.fee_burn_bp)->default_value(ac.fees.fee_burn_bp),
       "share of the platform fee that is burned, in basis points (2500 = a quarter: 2 % of the charge)")
      ("genesis-supply", po::value(&genesis_supply)->default_value("1000000000"),
       "tokens minted at genesis (first start of a fresh database)")
      ("genesis-rewards-pool-bp", po::value(&ac.genesis.rewards_pool_bp)->default_value(ac.genesis.rewards_pool_bp),
       "share of the genesis placed in the rewards pool (basis points); the treasury gets what no one else does")
      ("genesis-allocation", po::value(&genesis_allocations)->multitoken()->composing(),
       "'WALLET=BP': a genesis share for user:NAME or provider:NAME (repeatable)")
      ("epoch-max-txs", po::value(&ac.audit.epoch_max_txs)->default_value(ac.audit.epoch_max_txs),
       "an audit epoch closes when it holds this many ledger transactions")
      ("epoch-seconds", po::value(&cfg.epoch_seconds)->default_value(cfg.epoch_seconds),
       "an audit epoch that is not empty also closes after this many seconds")
      ("reward-epoch-seconds", po::value(&cfg.reward_epoch_seconds)->default_value(cfg.reward_epoch_seconds),
       "the rewards pool emits provider rewards once per this many seconds")
      ("halving-period-epochs", po::value(&ac.rewards.halving_period_epochs)->default_value(ac.rewards.halving_period_epochs),
       "reward emission halves every this many reward epochs")
      ("unbonding-period", po::value(&unbonding_s)->default_value(ac.staking.unbonding_period_ms / 1000),
       "seconds unstaked tokens wait before they can be withdrawn")
      ("early-unstake-burn-bp", po::value(&ac.staking.early_unstake_burn_bp)->default_value(ac.staking.early_unstake_burn_bp),
       "share burned when stake leaves without waiting out the unbonding period (basis points)")
      ("gpu-tier", po::value(&gpu_tiers)->multitoken()->composing(),
       "'MODEL=TIER': reward tier (consumer, datacenter, flagship) of GPU models containing MODEL (repeatable)")
      ("max-bundle-bytes", po::value(&cfg.max_bundle_bytes)->default_value(256ll << 20),
       "largest total of a job's stage-in files")
      ("max-output-bytes", po::value(&cfg.max_output_bytes)->default_value(64ll << 20),
       "largest output file a worker may return")
      ("no-verify", po::bool_switch(), "trust new nodes without challenges (development only)")
      ("challenge-matmul-n", po::value(&cfg.challenge_sizes.matmul_n)->default_value(256),
       "matrix size of the matmul challenge")
      ("challenge-memory-mb", po::value<int64_t>()->default_value(256), "MiB written by the memory challenge")
      ("challenge-pow-bits", po::value(&cfg.challenge_sizes.pow_difficulty_bits)->default_value(20),
       "leading zero bits of the proof-of-work challenge")
      ("challenge-timeout", po::value(&cfg.challenge_timeout_s)->default_value(120),
       "seconds a node has to answer a challenge")
      ("reverify-interval", po::value(&cfg.reverify_interval_s)->default_value(6 * 3600),
       "mean seconds between re-verifications of a node (randomised ±50 %)")
      ("http-threads", po::value(&cfg.http_threads)->default_value(64),
       "HTTP worker threads (workers hold long polls)")
      ("log-level", po::value(&log_level)->default_value("info"), "trace, debug, info, warn, error");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("config")) po::store(po::parse_config_file(vm["config"].as<std::string>().c_str(), desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "gmctld: error: " << e.what() << "\n(see gmctld --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ gmctld: %v");

  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "gmctld: error: --listen must be HOST:PORT (got '" << listen << "')\n";
    return 2;
  }
  cfg.listen_host = listen.substr(0, colon);
  cfg.port = std::atoi(listen.c_str() + colon + 1);
  auto dl = Seconds(default_limit, "--default-time-limit");
  auto ml = Seconds(max_limit, "--max-time-limit");
  if (!dl.ok() || !ml.ok() || fee_bp < 0 || fee_bp > 10000 || heartbeat_timeout_s < 1) {
    std::cerr << "gmctld: error: "
              << (!dl.ok() ? dl.status().message()
                  : !ml.ok() ? ml.status().message()
                             : std::string("--platform-fee-bp must be 0..10000 and "
                                           "--heartbeat-timeout at least 1"))
              << "\n";
    return 2;
  }
  if (!(full_pass_s >= 0 && full_pass_s <= 86400)) {
    std::cerr << "gmctld: error: --full-pass-interval must be 0..86400 seconds (got " << full_pass_s << ")\n";
    return 2;
  }
  cfg.sched.full_pass_interval_ms = static_cast<int64_t>(full_pass_s * 1000);
  cfg.sched.backfill = !no_backfill;
  cfg.verify_nodes = !vm["no-verify"].as<bool>();
  cfg.challenge_sizes.memory_bytes = vm["challenge-memory-mb"].as<int64_t>() << 20;
  for (const auto& line : partitions) {
    auto p = gm::sched::ParsePartition(line);
    if (!p.ok()) {
      std::cerr << "gmctld: error: " << p.status().message() << "\n";
      return 2;
    }
    cfg.sched.partitions.push_back(*p);
  }
  if (cfg.sched.partitions.empty()) {
    gm::sched::Partition main_part;
    main_part.name = "main";
    main_part.is_default = true;
    main_part.default_time_s = *dl;
    main_part.max_time_s = *ml;
    cfg.sched.partitions.push_back(main_part);
  }
  for (const auto& text : site_rtts) {
    auto r = gm::sched::ParseSiteRtt(text);
    if (!r.ok()) {
      std::cerr << "gmctld: error: " << r.status().message() << "\n";
      return 2;
    }
    cfg.site_rtts.push_back(*r);
  }
  if (auto v = gm::sched::Scheduler::ValidateOptions(cfg.sched); !v.ok()) {
    std::cerr << "gmctld: error: " << v.message() << "\n";
    return 2;
  }
  cfg.sched.heartbeat_timeout_ms = heartbeat_timeout_s * 1000LL;
  cfg.sched.kill_grace_s = kill_grace_s;
  ac.fees.provider_share_bp = 10000 - fee_bp;
  ac.staking.unbonding_period_ms = unbonding_s * 1000;
  ac.reputation.heartbeat_timeout_ms = cfg.sched.heartbeat_timeout_ms;
  auto supply = gm::ParseTokens(genesis_supply, "--genesis-supply");
  if (!supply.ok()) {
    std::cerr << "gmctld: error: " << supply.status().message() << "\n";
    return 2;
  }
  ac.genesis.total_supply = *supply;
  for (const auto& text : genesis_allocations) {
    auto eq = text.find('=');
    int bp = -1;
    try {
      if (eq != std::string::npos) bp = std::stoi(text.substr(eq + 1));
    } catch (...) {
    }
    if (eq == std::string::npos || bp < 0) {
      std::cerr << "gmctld: error: --genesis-allocation wants WALLET=BASIS_POINTS, not '" << text << "'\n";
      return 2;
    }
    ac.genesis.allocations.push_back({text.substr(0, eq), bp});
  }
  for (const auto& text : gpu_tiers) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "gmctld: error: --gpu-tier wants MODEL=TIER, not '" << text << "'\n";
      return 2;
    }
    std::string tier = text.substr(eq + 1);
    const auto& tiers = ac.rewards.tiers;
    if (std::none_of(tiers.begin(), tiers.end(), [&](const auto& t) { return t.name == tier; })) {
      std::cerr << "gmctld: error: --gpu-tier: unknown tier '" << tier << "' (consumer, datacenter, flagship)\n";
      return 2;
    }
    cfg.gpu_tiers.emplace_back(text.substr(0, eq), tier);
  }
  if (auto v = gm::acct::ValidateConfig(ac); !v.ok() || cfg.epoch_seconds < 1 || cfg.reward_epoch_seconds < 1) {
    std::cerr << "gmctld: error: "
              << (!v.ok() ? v.message() : std::string("--epoch-seconds and --reward-epoch-seconds must be at least 1"))
              << "\n";
    return 2;
  }

  // Signals go to one thread that stops the server; handlers do nothing unsafe.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  gm::Controller ctl(cfg, std::make_unique<gm::RealClock>());
  gm::Status s = ctl.Open();
  if (!s.ok()) {
    spdlog::critical("cannot start: {}", s.ToString());
    return 1;
  }
  std::thread sig([&] {
    int signo = 0;
    sigwait(&set, &signo);
    spdlog::info("signal {}: shutting down", signo);
    ctl.Stop();
  });
  sig.detach();
  s = ctl.Run();
  if (!s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 1;
  }
  spdlog::info("stopped");
  return 0;
}
