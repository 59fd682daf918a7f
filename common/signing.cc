// Ed25519 through OpenSSL's EVP interface, and canonical JSON for signing.
#include "common/signing.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

namespace gm {

namespace {

constexpr size_t kRawKeyBytes = 32;
constexpr size_t kSignatureBytes = 64;

// OpenSSL's error queue is per thread; leaving entries behind would make the
// next unrelated OpenSSL call's error message wrong.
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using UniqueBio = std::unique_ptr<BIO, BioFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Status WriteAll(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Status::IOError("cannot write " + path + ": " + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

// Syncs the directory entry too, so the key survives a power cut right after
// `gmd attach` registered its public key.
void SyncParentDir(const std::string& path) {
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
}

Status CanonicalInto(const nlohmann::json& v, const std::string& path, std::string* out) {
  using T = nlohmann::json::value_t;
  switch (v.type()) {
    case T::object: {
      // nlohmann's default object is a std::map: iteration is already in
      // byte order of the keys.
      out->push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        out->append(nlohmann::json(it.key()).dump(-1, ' ', false,
                                                  nlohmann::json::error_handler_t::strict));
        out->push_back(':');
        GM_RETURN_IF_ERROR(CanonicalInto(it.value(), path + "/" + it.key(), out));
      }
      out->push_back('}');
      return Status::OK();
    }
    case T::array: {
      out->push_back('[');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out->push_back(',');
        GM_RETURN_IF_ERROR(CanonicalInto(v[i], path + "/" + std::to_string(i), out));
      }
      out->push_back(']');
      return Status::OK();
    }
    case T::number_float:
      return Status::InvalidArgument("canonical JSON: " + (path.empty() ? "/" : path) +
                                     " is a floating-point number (" + v.dump() +
                                     "); only integers may be signed");
    case T::binary:
    case T::discarded:
      return Status::InvalidArgument("canonical JSON: " + (path.empty() ? "/" : path) +
                                     " is not a JSON value");
    default:
      out->append(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict));
      return Status::OK();
  }
}

}  // namespace

std::string BytesToHex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * bytes.size(), '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 15];
  }
  return out;
}

std::optional<std::string> HexToBytes(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

Status GenerateEd25519Key(const std::string& private_pem_path) {
  UniquePkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return Status::Internal("cannot generate an Ed25519 key: " + OpenSslError());
  UniqueBio mem(BIO_new(BIO_s_mem()));
  if (!mem || !PEM_write_bio_PrivateKey(mem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr))
    return Status::Internal("cannot encode the Ed25519 key: " + OpenSslError());
  char* pem = nullptr;
  long pem_len = BIO_get_mem_data(mem.get(), &pem);

  int fd = open(private_pem_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return Status::AlreadyExists(private_pem_path + " already exists; refusing to overwrite a node key");
    return Status::IOError("cannot create " + private_pem_path + ": " + std::strerror(errno));
  }
  // A umask may have removed bits from 0600 (e.g. 0400); the owner needs
  // exactly read and write, nobody else anything.
  Status s = fchmod(fd, 0600) == 0 ? Status::OK()
                                   : Status::IOError("chmod " + private_pem_path + ": " + std::strerror(errno));
  if (s.ok()) s = WriteAll(fd, pem, static_cast<size_t>(pem_len), private_pem_path);
  if (s.ok() && fsync(fd) != 0) s = Status::IOError("fsync " + private_pem_path + ": " + std::strerror(errno));
  close(fd);
  if (!s.ok()) {
    unlink(private_pem_path.c_str());  // never leave a half-written key behind
    return s;
  }
  SyncParentDir(private_pem_path);
  return Status::OK();
}

Result<SigningKey> SigningKey::FromSeedHex(const std::string& seed_hex) {
  auto seed = HexToBytes(seed_hex);
  if (!seed || seed->size() != kRawKeyBytes)
    return Status::InvalidArgument("an Ed25519 seed is 64 hex characters");
  EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(seed->data()),
                                             seed->size());
  if (!k) return Status::Internal("cannot load the Ed25519 seed: " + OpenSslError());
  return SigningKey(k);
}

Result<SigningKey> LoadSigningKey(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no node key at " + path);
    return Status::IOError("cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Status::IOError("cannot stat " + path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::PermissionDenied(path + " is accessible by group or others (mode " + mode +
                                    "); a node key must be mode 0600");
  }
  std::string pem;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return Status::IOError("cannot read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    pem.append(buf, static_cast<size_t>(n));
    if (pem.size() > (1 << 20)) {
      close(fd);
      return Status::InvalidArgument(path + " is too large to be a key");
    }
  }
  close(fd);
  UniqueBio mem(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* k = mem ? PEM_read_bio_PrivateKey(mem.get(), nullptr, nullptr, nullptr) : nullptr;
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!k) {
    ERR_clear_error();
    return Status::InvalidArgument(path + " is not a PEM private key");
  }
  if (EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(k);
    return Status::InvalidArgument(path + " holds a key that is not Ed25519");
  }
  return SigningKey(k);
}

std::string SigningKey::PublicKeyHex() const {
  unsigned char raw[kRawKeyBytes];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key_.get(), raw, &len) != 1 || len != kRawKeyBytes) {
    // A SigningKey is only ever built around a valid Ed25519 key.
    fprintf(stderr, "fatal: Ed25519 public key unavailable: %s\n", OpenSslError().c_str());
    abort();
  }
  return BytesToHex(std::string(reinterpret_cast<char*>(raw), len));
}

std::string SigningKey::Sign(const std::string& msg) const {
  UniqueMdCtx ctx(EVP_MD_CTX_new());
  unsigned char sig[kSignatureBytes];
  size_t len = sizeof sig;
  // Ed25519 hashes internally: no digest is named, and the message is signed
  // in one shot (EVP_DigestSign), as RFC 8032's PureEdDSA requires.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(msg.data()),
                     msg.size()) != 1 ||
      len != kSignatureBytes) {
    fprintf(stderr, "fatal: Ed25519 signing failed: %s\n", OpenSslError().c_str());
    abort();
  }
  return BytesToHex(std::string(reinterpret_cast<char*>(sig), len));
}

bool VerifyEd25519(const std::string& public_key_hex, const std::string& msg,
                   const std::string& sig_hex) {
  auto pub = HexToBytes(public_key_hex);
  auto sig = HexToBytes(sig_hex);
  if (!pub || pub->size() != kRawKeyBytes || !sig || sig->size() != kSignatureBytes) return false;
  UniquePkey key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(pub->data()), pub->size()));
  UniqueMdCtx ctx(EVP_MD_CTX_new());
  bool ok = key && ctx &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                             sig->size(), reinterpret_cast<const unsigned char*>(msg.data()),
                             msg.size()) == 1;
  ERR_clear_error();
  return ok;
}

Result<std::string> CanonicalJson(const nlohmann::json& value) {
  std::string out;
  try {
    GM_RETURN_IF_ERROR(CanonicalInto(value, "", &out));
  } catch (const nlohmann::json::exception& e) {
    // dump() with the strict handler throws on invalid UTF-8.
    return Status::InvalidArgument(std::string("canonical JSON: ") + e.what());
  }
  return out;
}

}  // namespace gm
