// OpenSSL-backed hashing, randomness and certificate generation.
#include "common/crypto.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <vector>

namespace gm {

namespace {

std::string ToHex(const unsigned char* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

struct FileCloser {
  void operator()(FILE* f) const { if (f) fclose(f); }
};
using UniqueFile = std::unique_ptr<FILE, FileCloser>;

Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return Status::Internal("cannot build X.509 extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return Status::OK();
}

}  // namespace

std::string Sha256Hex(const std::string& bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  return ToHex(md, sizeof md);
}

std::string RandomHex(size_t nbytes) {
  std::vector<unsigned char> buf(nbytes);
  if (RAND_bytes(buf.data(), static_cast<int>(nbytes)) != 1) {
    // Without randomness no secret is safe: a broken invariant, not an error value.
    fprintf(stderr, "fatal: RAND_bytes failed\n");
    abort();
  }
  return ToHex(buf.data(), nbytes);
}

std::string NewApiToken() { return "gm_" + RandomHex(20); }

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Status WriteSelfSignedCert(const std::string& cert_path, const std::string& key_path,
                           const std::string& common_name,
                           const std::vector<std::string>& extra_dns_names, int days) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return Status::Internal("cannot generate an EC P-256 key");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  std::string serial_hex = RandomHex(16);
  BIGNUM* bn = nullptr;
  BN_hex2bn(&bn, serial_hex.c_str());
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("GridMint"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  for (const auto& n : extra_dns_names) san += ",DNS:" + n;
  // A self-signed certificate that is its own CA lets clients use it as the CA file.
  GM_RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  GM_RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_alt_name, san));
  GM_RETURN_IF_ERROR(AddExtension(cert.get(), NID_key_usage,
                                  "critical,digitalSignature,keyCertSign"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    return Status::Internal("cannot sign the certificate");

  mode_t old = umask(077);
  UniqueFile kf(fopen(key_path.c_str(), "w"));
  umask(old);
  if (!kf) return Status::IOError("cannot write " + key_path);
  chmod(key_path.c_str(), 0600);
  if (!PEM_write_PrivateKey(kf.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr))
    return Status::IOError("cannot write key to " + key_path);
  UniqueFile cf(fopen(cert_path.c_str(), "w"));
  if (!cf) return Status::IOError("cannot write " + cert_path);
  if (!PEM_write_X509(cf.get(), cert.get()))
    return Status::IOError("cannot write certificate to " + cert_path);
  return Status::OK();
}

Result<std::string> CertFingerprintSha256(const std::string& cert_path) {
  UniqueFile f(fopen(cert_path.c_str(), "r"));
  if (!f) return Status::IOError("cannot read " + cert_path);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr),
                                                  X509_free);
  if (!cert) return Status::InvalidArgument(cert_path + " is not a PEM certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert.get(), EVP_sha256(), md, &n);
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    if (i) out += ':';
    out += kDigits[md[i] >> 4];
    out += kDigits[md[i] & 15];
  }
  return out;
}

}  // namespace gm
