// Stage-in bundles from the submitter's side.
#include "common/bundle_upload.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "common/crypto.h"

namespace gm {

namespace fs = std::filesystem;

Result<std::vector<LocalFile>> CollectStageIn(const std::vector<std::string>& paths, const std::string& cwd) {
  std::map<std::string, LocalFile> by_path;
  auto add = [&](const fs::path& local, const std::string& rel) -> Status {
    GM_ASSIGN_OR_RETURN(std::string safe, SafeRelativePath(rel));
    struct stat st{};
    if (stat(local.c_str(), &st) != 0) return Status::NotFound("--gm-stage-in: cannot read " + local.string());
    LocalFile f;
    f.entry.path = safe;
    f.entry.mode = st.st_mode & 0777;
    f.entry.size = st.st_size;
    f.local_path = local.string();
    if (!by_path.emplace(safe, f).second)
      return Status::InvalidArgument("--gm-stage-in: two files would land at '" + safe + "'");
    return Status::OK();
  };
  for (const auto& p : paths) {
    fs::path given(p);
    fs::path local = given.is_absolute() ? given : fs::path(cwd) / given;
    std::string base = given.is_absolute() ? local.filename().string() : given.lexically_normal().generic_string();
    std::error_code ec;
    if (fs::is_directory(local, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(local, ec))
        if (e.is_regular_file())
          GM_RETURN_IF_ERROR(add(e.path(), base + "/" + fs::relative(e.path(), local).generic_string()));
    } else if (fs::is_regular_file(local, ec)) {
      GM_RETURN_IF_ERROR(add(local, base));
    } else {
      return Status::NotFound("--gm-stage-in: no file or directory " + local.string());
    }
  }
  std::vector<LocalFile> out;
  for (auto& [k, v] : by_path) out.push_back(std::move(v));
  return out;
}

Result<std::string> UploadBundle(ApiClient& api, std::vector<LocalFile> files, int64_t max_bytes,
                                 const std::function<void(int64_t, int64_t)>& progress) {
  int64_t total = 0;
  for (const auto& f : files) total += f.entry.size;
  if (max_bytes > 0 && total > max_bytes)
    return Status::InvalidArgument("stage-in files total " + std::to_string(total) +
                                   " bytes, over the controller's bundle limit of " + std::to_string(max_bytes) +
                                   " bytes");
  BundleManifest m;
  int64_t done = 0;
  for (auto& f : files) {
    std::ifstream in(f.local_path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    if (!in.good() && !in.eof()) return Status::IOError("cannot read " + f.local_path);
    f.entry.size = static_cast<int64_t>(bytes.size());  // as read, if it changed since stat
    f.entry.sha256 = Sha256Hex(bytes);
    GM_RETURN_IF_ERROR(
        api.PostBytes("/api/v1/blobs?sha256=" + f.entry.sha256, bytes, "application/octet-stream").status());
    done += f.entry.size;
    if (progress) progress(done, total);
    m.files.push_back(f.entry);
  }
  std::string manifest = EncodeManifest(m);
  std::string id = Sha256Hex(manifest);
  GM_RETURN_IF_ERROR(api.PostBytes("/api/v1/blobs?sha256=" + id, manifest, "application/json").status());
  return id;
}

}  // namespace gm
