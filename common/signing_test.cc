// Tests for Ed25519 keys and canonical JSON: RFC 8032 vectors, tampering,
// wrong keys, key files (mode, overwrite, foreign formats), OpenSSL's own
// command-line tool as an independent reader.
//
// Suite names start with "signing" so that `ctest -R signing` selects them:
// gm_add_test registers tests under their GoogleTest names.
#include "common/signing.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/crypto.h"

namespace gm {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
constexpr char kSeed1[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr char kPub1[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr char kSig1[] =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe"
    "24655141438e7a100b";
constexpr char kSeed2[] = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
constexpr char kPub2[] = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
constexpr char kSig2[] =
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302a"
    "eeb00d291612bb0c00";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/gm-signing-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string RunCapture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(signingEd25519, Rfc8032Vector1EmptyMessage) {
  auto key = SigningKey::FromSeedHex(kSeed1);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->PublicKeyHex(), kPub1);
  EXPECT_EQ(key->Sign(""), kSig1);
  EXPECT_TRUE(VerifyEd25519(kPub1, "", kSig1));
}

TEST(signingEd25519, Rfc8032Vector2OneByte) {
  auto key = SigningKey::FromSeedHex(kSeed2);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->PublicKeyHex(), kPub2);
  EXPECT_EQ(key->Sign("\x72"), kSig2);
  EXPECT_TRUE(VerifyEd25519(kPub2, "\x72", kSig2));
}

TEST(signingEd25519, TamperedMessageOrSignatureFails) {
  EXPECT_FALSE(VerifyEd25519(kPub2, "\x73", kSig2));       // one message bit flipped
  EXPECT_FALSE(VerifyEd25519(kPub2, std::string("\x72\x00", 2), kSig2));  // one byte appended
  std::string sig = kSig2;
  sig[10] = sig[10] == '0' ? '1' : '0';                    // one signature nibble changed
  EXPECT_FALSE(VerifyEd25519(kPub2, "\x72", sig));
  EXPECT_FALSE(VerifyEd25519(kPub2, "", kSig2));
}

TEST(signingEd25519, WrongKeyFails) {
  EXPECT_FALSE(VerifyEd25519(kPub1, "\x72", kSig2));
  auto a = SigningKey::FromSeedHex(kSeed1);
  auto b = SigningKey::FromSeedHex(kSeed2);
  ASSERT_TRUE(a.ok() && b.ok());
  std::string sig = a->Sign("settle job 42");
  EXPECT_TRUE(VerifyEd25519(a->PublicKeyHex(), "settle job 42", sig));
  EXPECT_FALSE(VerifyEd25519(b->PublicKeyHex(), "settle job 42", sig));
}

TEST(signingEd25519, MalformedInputsAreFalseNotErrors) {
  EXPECT_FALSE(VerifyEd25519("", "", kSig1));
  EXPECT_FALSE(VerifyEd25519(std::string(kPub1).substr(2), "", kSig1));  // 31 bytes
  EXPECT_FALSE(VerifyEd25519(kPub1, "", std::string(kSig1) + "00"));     // 65 bytes
  EXPECT_FALSE(VerifyEd25519(kPub1, "", std::string(kSig1).replace(0, 2, "zz")));
  EXPECT_FALSE(SigningKey::FromSeedHex("abcd").ok());
  EXPECT_EQ(SigningKey::FromSeedHex("xy").status().code(), Status::Code::kInvalidArgument);
}

TEST(signingEd25519, DifferentKeysSignDifferently) {
  TempDir dir;
  ASSERT_TRUE(GenerateEd25519Key(dir.path() + "/a.key").ok());
  ASSERT_TRUE(GenerateEd25519Key(dir.path() + "/b.key").ok());
  auto a = LoadSigningKey(dir.path() + "/a.key");
  auto b = LoadSigningKey(dir.path() + "/b.key");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->PublicKeyHex(), b->PublicKeyHex());
  std::string sig = a->Sign("m");
  EXPECT_FALSE(VerifyEd25519(b->PublicKeyHex(), "m", sig));
}

TEST(signingKeyFile, GeneratedKeyIsMode0600EvenWithPermissiveUmask) {
  TempDir dir;
  std::string path = dir.path() + "/node.key";
  mode_t old = umask(0);  // the test is single-threaded; the key must not depend on the umask
  Status s = GenerateEd25519Key(path);
  umask(old);
  ASSERT_TRUE(s.ok()) << s.ToString();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
}

TEST(signingKeyFile, RefusesToOverwrite) {
  TempDir dir;
  std::string path = dir.path() + "/node.key";
  ASSERT_TRUE(GenerateEd25519Key(path).ok());
  auto first = LoadSigningKey(path);
  ASSERT_TRUE(first.ok());
  Status again = GenerateEd25519Key(path);
  EXPECT_EQ(again.code(), Status::Code::kAlreadyExists) << again.ToString();
  EXPECT_NE(again.message().find(path), std::string::npos);
  auto second = LoadSigningKey(path);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->PublicKeyHex(), second->PublicKeyHex());  // same key, untouched
}

TEST(signingKeyFile, LoadedKeySignsVerifiably) {
  TempDir dir;
  std::string path = dir.path() + "/node.key";
  ASSERT_TRUE(GenerateEd25519Key(path).ok());
  auto key = LoadSigningKey(path);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  std::string pub = key->PublicKeyHex();
  EXPECT_EQ(pub.size(), 64u);
  std::string sig = key->Sign("usage record");
  EXPECT_EQ(sig.size(), 128u);
  EXPECT_TRUE(VerifyEd25519(pub, "usage record", sig));
  SigningKey moved = std::move(key).value();  // move-only, still usable
  EXPECT_EQ(moved.Sign("usage record"), sig);  // Ed25519 is deterministic
}

TEST(signingKeyFile, OpenSslToolReadsTheSamePublicKey) {
  // An independent reader of the file: the openssl command-line tool.
  ASSERT_EQ(system("command -v openssl >/dev/null 2>&1"), 0) << "no openssl tool (contrib/install-deps.sh installs it)";
  TempDir dir;
  std::string path = dir.path() + "/node.key";
  ASSERT_TRUE(GenerateEd25519Key(path).ok());
  auto key = LoadSigningKey(path);
  ASSERT_TRUE(key.ok());
  // The DER SubjectPublicKeyInfo of an Ed25519 key ends with the 32 raw bytes.
  std::string hex = RunCapture("openssl pkey -in " + path + " -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \\n'");
  EXPECT_EQ(hex, key->PublicKeyHex());
}

TEST(signingKeyFile, LoadErrorsNameTheProblem) {
  TempDir dir;
  auto missing = LoadSigningKey(dir.path() + "/none.key");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);

  std::string open_key = dir.path() + "/open.key";
  ASSERT_TRUE(GenerateEd25519Key(open_key).ok());
  ASSERT_EQ(chmod(open_key.c_str(), 0644), 0);
  auto readable = LoadSigningKey(open_key);
  EXPECT_EQ(readable.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(readable.status().message().find("0644"), std::string::npos) << readable.status().ToString();

  std::string junk = dir.path() + "/junk.key";
  { std::ofstream(junk) << "not a key\n"; }
  chmod(junk.c_str(), 0600);
  EXPECT_EQ(LoadSigningKey(junk).status().code(), Status::Code::kInvalidArgument);

  // An EC P-256 key (what the controller's TLS uses) is not a node key.
  std::string ec_key = dir.path() + "/tls.key";
  ASSERT_TRUE(WriteSelfSignedCert(dir.path() + "/tls.crt", ec_key, "x", {}, 1).ok());
  auto ec = LoadSigningKey(ec_key);
  EXPECT_EQ(ec.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(ec.status().message().find("not Ed25519"), std::string::npos) << ec.status().ToString();

  Status nodir = GenerateEd25519Key(dir.path() + "/no/such/dir/node.key");
  EXPECT_EQ(nodir.code(), Status::Code::kIOError) << nodir.ToString();
}

TEST(signingCanonicalJson, SortsKeysAtEveryLevelWithoutWhitespace) {
  json j = json::parse(R"({ "b": 1, "a": { "d": [3, {"z": 1, "y": -2}], "c": "x" }, "B": true, "n": null })");
  auto c = CanonicalJson(j);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c, R"({"B":true,"a":{"c":"x","d":[3,{"y":-2,"z":1}]},"b":1,"n":null})");
  // Canonical form is a fixed point.
  EXPECT_EQ(*CanonicalJson(json::parse(*c)), *c);
}

TEST(signingCanonicalJson, IntegersAtTheEdgesPrintExactly) {
  json j = {{"max", INT64_MAX}, {"min", INT64_MIN}, {"u", UINT64_MAX}};
  EXPECT_EQ(*CanonicalJson(j), R"({"max":9223372036854775807,"min":-9223372036854775808,"u":18446744073709551615})");
}

TEST(signingCanonicalJson, RefusesFloatsNamingThePath) {
  json j = json::parse(R"({"a": {"d": [3, 1.5]}})");
  auto c = CanonicalJson(j);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("/a/d/1"), std::string::npos) << c.status().ToString();
  // 2.0 is still a float on the wire; money never travels as one.
  EXPECT_FALSE(CanonicalJson(json::parse(R"({"price": 2.0})")).ok());
  EXPECT_FALSE(CanonicalJson(json(0.5)).ok());
}

TEST(signingCanonicalJson, StringsAreUtf8WithMinimalEscapes) {
  json j = {{"k", "\xc3\xa9\n\"\\"}};
  EXPECT_EQ(*CanonicalJson(j), "{\"k\":\"\xc3\xa9\\n\\\"\\\\\"}");
  json bad = {{"k", std::string("\xff\xfe")}};
  auto c = CanonicalJson(bad);
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument) << c.status().ToString();
}

TEST(signingHex, RoundTripAndStrictness) {
  EXPECT_EQ(BytesToHex(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(*HexToBytes("00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(HexToBytes("abc").has_value());
  EXPECT_FALSE(HexToBytes("0g").has_value());
}

}  // namespace
}  // namespace gm
