// SHA-256 over OpenSSL's EVP interface with a fetched, reused digest.
#include "accounting/sha256.h"

#include <cstdlib>

#include <openssl/evp.h>

namespace gm::acct {

std::string HashHex(const Hash& h) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < h.size(); ++i) {
    out[2 * i] = kDigits[h[i] >> 4];
    out[2 * i + 1] = kDigits[h[i] & 15];
  }
  return out;
}

Result<Hash> ParseHashHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Hash h{};
  if (hex.size() != 64) return Status::InvalidArgument("a SHA-256 hash is 64 hex digits, not '" + std::string(hex) + "'");
  for (size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("'" + std::string(hex) + "' is not hex");
    h[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return h;
}

Sha256::Sha256() {
  ctx_ = EVP_MD_CTX_new();
  md_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!ctx_ || !md_) std::abort();
}

Sha256::~Sha256() {
  EVP_MD_free(static_cast<EVP_MD*>(md_));
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

Hash Sha256::Digest(uint8_t prefix, std::string_view a, std::string_view b) {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  Hash out{};
  unsigned int len = 0;
  if (EVP_DigestInit_ex(ctx, static_cast<EVP_MD*>(md_), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, &prefix, 1) != 1 || EVP_DigestUpdate(ctx, a.data(), a.size()) != 1 ||
      (!b.empty() && EVP_DigestUpdate(ctx, b.data(), b.size()) != 1) ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size())
    std::abort();
  return out;
}

}  // namespace gm::acct
