// gmd: the GridMint worker agent. The composition root: parses the command
// line, builds the GPU probe and the agent, and runs it (in the foreground
// or as a daemon) until SIGTERM/SIGINT.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/money.h"
#include "worker/agent.h"

namespace po = boost::program_options;
using gm::worker::Agent;
using gm::worker::AgentConfig;

namespace {

constexpr const char* kUsage = R"(Usage:
  gmd attach --controller URL --ca FILE --enroll-token TOKEN --price TOKENS [OPTIONS]
  gmd run [--state-dir DIR] [--foreground]

gmd is GridMint's provider agent. 'attach' registers this machine with a
controller (GPUs are discovered through the CUDA runtime; without a driver,
declare them with --gpus/--gpu-model/--gpu-mem-mb and they are marked
declared everywhere) and then serves jobs. 'run' serves jobs again on a
machine attached before, from its state directory.

Options)";

int Fail(const std::string& msg) {
  std::cerr << "gmd: error: " << msg << "\n";
  return 1;
}

void Daemonize(const std::string& log_path) {
  if (fork() > 0) _exit(0);
  setsid();
  if (fork() > 0) _exit(0);
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 0);
  int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  dup2(log, 1);
  dup2(log, 2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage << "\n  see 'gmd attach --help'\n";
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  if (cmd != "attach" && cmd != "run") return Fail("unknown command '" + cmd + "' (attach or run)");
  AgentConfig cfg;
  std::string enroll, price, log_level;
  bool foreground = false;
  po::options_description desc(kUsage);
  desc.add_options()
      ("help,h", "show this help")
      ("state-dir", po::value(&cfg.state_dir)->default_value("/var/lib/gridmint/worker"),
       "state directory: node identity (node.json, mode 0600), job directories")
      ("foreground", po::bool_switch(&foreground), "stay in the foreground, log to stderr")
      ("log-level", po::value(&log_level)->default_value("info"), "trace, debug, info, warn, error");
  po::options_description att("attach options");
  att.add_options()
      ("controller", po::value(&cfg.controller_url), "controller URL, https://HOST:PORT")
      ("ca", po::value(&cfg.ca_file), "PEM file that the controller's certificate chains to")
      ("enroll-token", po::value(&enroll), "enrollment token from 'gm admin enroll-token'")
      ("price", po::value(&price), "asking price per GPU-hour, in tokens (up to 6 decimals)")
      ("region", po::value(&cfg.region)->default_value("default"), "region of this machine")
      ("site", po::value(&cfg.site)->default_value("default"),
       "site (locality group): multi-node jobs take nodes of one site")
      ("name", po::value(&cfg.name), "node name (default: the host name)")
      ("gpus", po::value(&cfg.declared_gpus), "declare N GPUs instead of discovering them")
      ("gpu-model", po::value(&cfg.gpu_model), "model of the declared GPUs, e.g. H100")
      ("gpu-mem-mb", po::value(&cfg.gpu_mem_mb), "memory of each declared GPU in MB")
      ("cpus", po::value(&cfg.cpus), "CPUs offered (default: all)")
      ("mem-mb", po::value(&cfg.mem_mb), "memory offered in MB (default: all)")
      ("heartbeat", po::value(&cfg.heartbeat_s)->default_value(5), "seconds between heartbeats")
      ("job-user", po::value(&cfg.job_user)->default_value("gridmint-job"),
       "unprivileged user that runs jobs (created if missing)")
      ("jobs-dir", po::value(&cfg.jobs_dir), "where job directories live (default STATE/jobs); every parent "
       "must be traversable by the job user")
      ("no-isolation", po::bool_switch(), "run jobs as gmd's user without cgroup or sandbox (development only)");
  desc.add(att);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc - 1, argv + 1, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return Fail(std::string(e.what()) + " (see gmd --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ gmd: %v");

  std::unique_ptr<gm::worker::GpuProbe> probe;
  if (cmd == "attach") {
    for (const char* need : {"controller", "ca", "enroll-token", "price"})
      if (!vm.count(need)) return Fail(std::string("attach needs --") + need);
    auto p = gm::ParseTokens(price, "--price");
    if (!p.ok()) return Fail(p.status().message());
    cfg.price = *p;
    if (vm.count("gpus") && (cfg.declared_gpus < 0 || cfg.gpu_model.empty() || cfg.gpu_mem_mb <= 0) &&
        cfg.declared_gpus != 0)
      return Fail("declared GPUs need --gpus N (N >= 0), --gpu-model NAME and --gpu-mem-mb M");
    cfg.ca_file = std::filesystem::absolute(cfg.ca_file).string();
  }
  cfg.state_dir = std::filesystem::absolute(cfg.state_dir).string();
  if (cmd == "attach") {
    cfg.isolation = !vm["no-isolation"].as<bool>();
    if (!cfg.jobs_dir.empty()) cfg.jobs_dir = std::filesystem::absolute(cfg.jobs_dir).string();
  }
  probe = cfg.declared_gpus >= 0
              ? gm::worker::MakeDeclaredGpuProbe(cfg.declared_gpus, cfg.gpu_model, cfg.gpu_mem_mb)
              : gm::worker::MakeCudaGpuProbe();
  auto agent = std::make_unique<Agent>(cfg, std::move(probe));
  gm::Status s = cmd == "attach" ? agent->Attach(enroll) : agent->Load();
  if (!s.ok()) return Fail(s.message());
  if (cmd == "run" && agent->config().declared_gpus >= 0) {
    // The declared hardware comes from node.json; rebuild the agent around it.
    const AgentConfig& c = agent->config();
    auto declared = gm::worker::MakeDeclaredGpuProbe(c.declared_gpus, c.gpu_model, c.gpu_mem_mb);
    AgentConfig copy = c;
    agent = std::make_unique<Agent>(copy, std::move(declared));
    s = agent->Load();
    if (!s.ok()) return Fail(s.message());
  }
  if (!foreground) {
    std::string log = cfg.state_dir + "/gmd.log";
    // Flushed before fork: a pipe's buffer would otherwise end up in the log.
    std::cout << "gmd: attached; serving in the background, log in " << log << std::endl;
    Daemonize(log);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread sig([&] {
    int signo = 0;
    sigwait(&set, &signo);
    spdlog::info("signal {}: stopping", signo);
    agent->Stop();
  });
  sig.detach();
  s = agent->Run();
  if (!s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  spdlog::info("stopped");
  return 0;
}
