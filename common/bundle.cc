// Bundle manifests: encoding, decoding and path safety.
#include "common/bundle.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

namespace gm {

int64_t BundleManifest::TotalBytes() const {
  int64_t t = 0;
  for (const auto& f : files) t += f.size;
  return t;
}

bool IsSha256Hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<std::string> SafeRelativePath(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("empty path");
  std::filesystem::path p(path);
  if (p.is_absolute()) return Status::InvalidArgument("path '" + path + "' must be relative");
  std::string norm = p.lexically_normal().generic_string();
  if (norm == "." || norm.rfind("..", 0) == 0 || norm.find("/../") != std::string::npos)
    return Status::InvalidArgument("path '" + path + "' leaves the job's directory");
  if (norm.back() == '/') norm.pop_back();
  return norm;
}

std::string EncodeManifest(const BundleManifest& m) {
  std::vector<BundleFile> files = m.files;
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& f : files)
    arr.push_back(nlohmann::json::array({f.path, f.mode, f.size, f.sha256}));
  return nlohmann::json{{"files", arr}, {"version", 1}}.dump();
}

Result<BundleManifest> DecodeManifest(const std::string& bytes) {
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("files") || !j["files"].is_array())
    return Status::InvalidArgument("bundle manifest is not valid");
  BundleManifest m;
  std::set<std::string> seen;
  for (const auto& e : j["files"]) {
    if (!e.is_array() || e.size() != 4 || !e[0].is_string() || !e[1].is_number_unsigned() ||
        !e[2].is_number_integer() || !e[3].is_string())
      return Status::InvalidArgument("bundle manifest has a malformed entry");
    BundleFile f{e[0].get<std::string>(), e[1].get<uint32_t>() & 0777, e[2].get<int64_t>(),
                 e[3].get<std::string>()};
    GM_ASSIGN_OR_RETURN(std::string safe, SafeRelativePath(f.path));
    if (safe != f.path) return Status::InvalidArgument("bundle path '" + f.path + "' is not normalised");
    if (f.size < 0 || !IsSha256Hex(f.sha256))
      return Status::InvalidArgument("bundle entry '" + f.path + "' has a bad size or hash");
    if (!seen.insert(f.path).second) return Status::InvalidArgument("bundle names '" + f.path + "' twice");
    m.files.push_back(std::move(f));
  }
  return m;
}

}  // namespace gm
