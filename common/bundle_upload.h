// Building and uploading a job bundle from the submitter's files.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/bundle.h"
#include "common/http.h"

namespace gm {

// Files named by --gm-stage-in (files or directories, relative to `cwd` or
// absolute), as bundle entries: relative paths keep their place, absolute ones
// land under their base name. Reads nothing but metadata.
struct LocalFile {
  BundleFile entry;
  std::string local_path;
};
Result<std::vector<LocalFile>> CollectStageIn(const std::vector<std::string>& paths, const std::string& cwd);

// Hashes and uploads every file and the manifest; returns the bundle id (the
// manifest's SHA-256). Refuses, before sending anything, a bundle larger than
// `max_bytes`, naming the limit. `progress(done, total)` is called as bytes go.
Result<std::string> UploadBundle(ApiClient& api, std::vector<LocalFile> files, int64_t max_bytes,
                                 const std::function<void(int64_t, int64_t)>& progress);

}  // namespace gm
