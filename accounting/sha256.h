// SHA-256 for the audit trail: raw 32-byte digests through OpenSSL, with one
// reusable context so that hashing a million transactions stays cheap.
// Internal to accounting/.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gm::acct {

using Hash = std::array<uint8_t, 32>;

std::string HashHex(const Hash& h);
// Parses 64 lower- or upper-case hex digits. InvalidArgument otherwise.
Result<Hash> ParseHashHex(std::string_view hex);

// Not thread-safe: one per thread. Aborts if OpenSSL cannot provide SHA-256
// (a broken installation, not an input error).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // SHA-256(prefix byte ‖ a ‖ b).
  Hash Digest(uint8_t prefix, std::string_view a, std::string_view b = {});

 private:
  void* ctx_;  // EVP_MD_CTX
  void* md_;   // EVP_MD
};

}  // namespace gm::acct
