// An Ed25519 key for tests and benchmarks of the audit trail, straight over
// OpenSSL, so that epochs are signed and verified as gmctld will do it (the
// controller plugs in common/signing.h instead). Header-only; link
// OpenSSL::Crypto. Not for production keys: the key lives in memory only.
#pragma once

#include <cstdlib>
#include <string>

#include <openssl/evp.h>

#include "accounting/audit.h"

namespace gm::acct {

class TestEd25519 {
 public:
  TestEd25519() : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")) {
    if (!key_) std::abort();
  }
  ~TestEd25519() { EVP_PKEY_free(key_); }
  TestEd25519(const TestEd25519&) = delete;
  TestEd25519& operator=(const TestEd25519&) = delete;

  // Hex of the 64-byte signature.
  std::string Sign(const std::string& msg) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned char sig[64];
    size_t len = sizeof(sig);
    bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
              EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) std::abort();
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < len; ++i) {
      out += kHex[sig[i] >> 4];
      out += kHex[sig[i] & 15];
    }
    return out;
  }

  bool Verify(const std::string& msg, const std::string& sig_hex) const {
    if (sig_hex.size() != 128) return false;
    unsigned char sig[64];
    for (size_t i = 0; i < 64; ++i) {
      int v = 0;
      for (int k = 0; k < 2; ++k) {
        char c = sig_hex[2 * i + k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        v = v * 16 + d;
      }
      sig[i] = static_cast<unsigned char>(v);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
              EVP_DigestVerify(ctx, sig, sizeof(sig), reinterpret_cast<const unsigned char*>(msg.data()),
                               msg.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  }

  EpochSigner signer() const {
    return [this](const std::string& m) { return Sign(m); };
  }
  EpochVerifier verifier() const {
    return [this](const std::string& m, const std::string& s) { return Verify(m, s); };
  }

 private:
  EVP_PKEY* key_;
};

}  // namespace gm::acct
