// Crypto primitives GridMint needs, all through OpenSSL: SHA-256, random
// tokens, and the controller's self-signed TLS certificate.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace gm {

// Lower-case hex SHA-256 of bytes.
std::string Sha256Hex(const std::string& bytes);

// `nbytes` bytes from the OS CSPRNG, hex-encoded (2·nbytes characters).
std::string RandomHex(size_t nbytes);

// A new API token: "gm_" + 40 hex characters. Only its SHA-256 is stored.
std::string NewApiToken();

// Constant-time comparison for secrets of equal length.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

// Writes a new EC P-256 key (mode 0600) and a self-signed X.509 certificate
// valid for `days`, with subjectAltName DNS:localhost, IP:127.0.0.1 and the
// given extra names. Clients trust it through a CA file (the certificate
// itself) or by pinning its fingerprint.
Status WriteSelfSignedCert(const std::string& cert_path, const std::string& key_path,
                           const std::string& common_name,
                           const std::vector<std::string>& extra_dns_names, int days);

// SHA-256 fingerprint of a PEM certificate file, "AB:CD:..." as openssl prints it.
Result<std::string> CertFingerprintSha256(const std::string& cert_path);

}  // namespace gm
