// Tests of hashing, tokens and the self-signed certificate.
#include "common/crypto.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace gm {
namespace {

TEST(CryptoTest, Sha256KnownVectors) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, TokensAreRandomAndWellFormed) {
  std::string a = NewApiToken(), b = NewApiToken();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 43u);
  EXPECT_EQ(a.rfind("gm_", 0), 0u);
}

TEST(CryptoTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(CryptoTest, SelfSignedCertIsReadableByOpenssl) {
  auto dir = std::filesystem::temp_directory_path() / ("gm-crypto-" + RandomHex(4));
  std::filesystem::create_directories(dir);
  std::string cert = dir / "tls.crt", key = dir / "tls.key";
  ASSERT_TRUE(WriteSelfSignedCert(cert, key, "gmctld", {"ctl.example"}, 30).ok());
  struct stat st{};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The real openssl tool must accept it and see the names we asked for.
  std::string cmd = "openssl x509 -in " + cert + " -noout -text > " + (dir / "out").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(dir / "out");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("DNS:ctl.example"), std::string::npos);
  EXPECT_NE(text.find("IP Address:127.0.0.1"), std::string::npos);
  auto fp = CertFingerprintSha256(cert);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->size(), 32u * 3 - 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gm
