// Connection set-up, errors and formatting shared by gm's commands.
#include "cli/cli.h"

#include <limits.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>

extern char** environ;

namespace gm::cli {

std::string Env(const char* name, const std::string& dflt) {
  const char* v = getenv(name);
  return v && *v ? v : dflt;
}

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos && eq > 0) out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

std::string Cwd() {
  std::error_code ec;
  return std::filesystem::current_path(ec).string();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ExeDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  return std::filesystem::path(buf).parent_path().string();
}

std::string FormatTime(int64_t unix_ms) {
  if (unix_ms <= 0) return "Unknown";
  time_t t = unix_ms / 1000;
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

int64_t LocalTzOffset(int64_t unix_ms) {
  time_t t = unix_ms / 1000;
  struct tm tm;
  localtime_r(&t, &tm);
  return tm.tm_gmtoff;
}

Connection TakeConnection(std::vector<std::string>& args) {
  Connection c;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto take = [&](const char* flag, std::string* out) {
      std::string f = flag;
      if (a == f && i + 1 < args.size()) {
        *out = args[++i];
        return true;
      }
      if (a.rfind(f + "=", 0) == 0) {
        *out = a.substr(f.size() + 1);
        return true;
      }
      return false;
    };
    if (take("--controller", &c.controller) || take("--ca", &c.ca) || take("--token", &c.token)) continue;
    rest.push_back(a);
  }
  args = rest;
  if (c.controller.empty()) c.controller = Env("GM_CONTROLLER");
  if (c.ca.empty()) c.ca = Env("GM_CA");
  if (c.token.empty()) c.token = Env("GM_TOKEN");
  return c;
}

Result<std::unique_ptr<ApiClient>> Connect(const Connection& c, int read_timeout_s) {
  ApiClientOptions o;
  o.url = c.controller;
  o.ca_file = c.ca;
  o.token = c.token;
  o.read_timeout_s = read_timeout_s;
  if (o.token.empty())
    return Status::Unauthenticated("no API token: pass --token or set GM_TOKEN "
                                   "(gm local up prints the export lines)");
  return ApiClient::Create(o);
}

int Fail(const std::string& cmd, const std::string& message, int code) {
  std::cerr << cmd << ": error: " << message << "\n";
  return code;
}

std::string Column(const std::string& value, int width) {
  size_t w = static_cast<size_t>(width < 0 ? -width : width);
  std::string v = value.size() > w ? value.substr(0, w) : value;
  std::string pad(w - v.size(), ' ');
  return width < 0 ? pad + v : v + pad;
}

}  // namespace gm::cli
