// Ed25519 node keys and canonical JSON: what a provider signs its usage
// records (and anything else it vouches for) with, and how the controller
// checks them. OpenSSL's EVP interface does the cryptography.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace gm {

// Writes a new Ed25519 private key (PKCS#8 PEM) to `private_pem_path` with
// mode 0600, synced to disk. The file is created with O_CREAT|O_EXCL and mode
// 0600 in one system call, so it is never readable by anyone else, not even
// for an instant, and the process-wide umask is left alone (other threads may
// be creating files). Errors: AlreadyExists (the path exists: a node key is
// never overwritten, since the controller knows the node by its public key),
// IOError (the directory is missing or unwritable), Internal (OpenSSL).
Status GenerateEd25519Key(const std::string& private_pem_path);

// An Ed25519 private key in memory. Move-only: it owns the OpenSSL key.
class SigningKey {
 public:
  // From the 32-byte RFC 8032 private key ("seed"), 64 hex characters.
  // For deterministic keys (tests, the simulator). Errors: InvalidArgument.
  static Result<SigningKey> FromSeedHex(const std::string& seed_hex);

  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  // The 32-byte raw public key, 64 lower-case hex characters: how the
  // controller knows the node.
  std::string PublicKeyHex() const;

  // The 64-byte Ed25519 signature of `msg`, 128 lower-case hex characters.
  // Ed25519 is deterministic: the same key and message give the same bytes.
  std::string Sign(const std::string& msg) const;

 private:
  struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  explicit SigningKey(EVP_PKEY* key) : key_(key) {}
  friend Result<SigningKey> LoadSigningKey(const std::string& path);
  std::unique_ptr<EVP_PKEY, PkeyFree> key_;
};

// Reads a key written by GenerateEd25519Key. Errors: NotFound (no file),
// PermissionDenied (the file is readable or writable by group or others: a
// key that others could have read is no longer a secret; fix with chmod 600),
// InvalidArgument (not a PEM private key, or not Ed25519), IOError.
Result<SigningKey> LoadSigningKey(const std::string& path);

// True when `sig_hex` is a valid Ed25519 signature of `msg` by the key whose
// raw public key is `public_key_hex`. Any malformed input (wrong length, not
// hex, not a curve point) is simply false: a forger learns nothing more.
bool VerifyEd25519(const std::string& public_key_hex, const std::string& msg,
                   const std::string& sig_hex);

// The one byte string a JSON value is signed as: object keys sorted by their
// UTF-8 bytes at every level, no whitespace, strings as UTF-8 with JSON's
// minimal escapes, numbers as integers. Floating-point numbers are refused
// (InvalidArgument naming the JSON path, e.g. "/gpu_ms"), so that money and
// time never pass through a double and two parties cannot disagree on how a
// number prints. Also InvalidArgument for binary values and invalid UTF-8.
Result<std::string> CanonicalJson(const nlohmann::json& value);

// Lower-case hex of bytes, and its inverse (strict: even length, [0-9a-fA-F]
// only; nullopt otherwise).
std::string BytesToHex(const std::string& bytes);
std::optional<std::string> HexToBytes(const std::string& hex);

}  // namespace gm
