// Job bundles: providers share no file system with users, so a job's
// stage-in files travel as a content-addressed bundle. Each file is a blob
// named by its SHA-256; the manifest (canonical JSON listing path, mode,
// size and hash of every file) is a blob too, and its hash names the bundle.
// Whoever receives a blob checks its hash before using it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace gm {

struct BundleFile {
  std::string path;    // relative, normalised, no "..": where it lands in the job's directory
  uint32_t mode = 0644;
  int64_t size = 0;
  std::string sha256;  // hex
};

struct BundleManifest {
  std::vector<BundleFile> files;
  int64_t TotalBytes() const;
};

// Canonical bytes of a manifest (sorted by path, fixed key order, no spaces).
std::string EncodeManifest(const BundleManifest& m);
// Parses and validates a manifest: every path safe (relative, no "..", no
// duplicates), hashes 64 hex digits, sizes non-negative.
Result<BundleManifest> DecodeManifest(const std::string& bytes);
// A path a job may name: relative, normalised, not escaping its directory.
Result<std::string> SafeRelativePath(const std::string& path);
bool IsSha256Hex(const std::string& s);

}  // namespace gm
