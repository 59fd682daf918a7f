// Tests of bundle manifests and path safety.
#include "common/bundle.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

namespace gm {
namespace {

TEST(BundleTest, RoundTripIsCanonical) {
  BundleManifest a;
  a.files = {{"data/b.bin", 0644, 3, Sha256Hex("abc")}, {"a.txt", 0755, 0, Sha256Hex("")}};
  BundleManifest b;
  b.files = {a.files[1], a.files[0]};  // other order, same bundle
  EXPECT_EQ(EncodeManifest(a), EncodeManifest(b));
  auto d = DecodeManifest(EncodeManifest(a));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->files.size(), 2u);
  EXPECT_EQ(d->files[0].path, "a.txt");
  EXPECT_EQ(d->files[0].mode, 0755u);
  EXPECT_EQ(d->TotalBytes(), 3);
}

TEST(BundleTest, UnsafePathsAreRefused) {
  for (const char* bad : {"/etc/passwd", "../x", "a/../../x", "", "."}) EXPECT_FALSE(SafeRelativePath(bad).ok()) << bad;
  EXPECT_EQ(*SafeRelativePath("a/./b//c"), "a/b/c");
  EXPECT_EQ(*SafeRelativePath("a/../b"), "b");
}

TEST(BundleTest, MalformedManifestsAreRefused) {
  EXPECT_FALSE(DecodeManifest("nope").ok());
  EXPECT_FALSE(DecodeManifest(R"({"files":[["../x",420,1,"00"]]})").ok());
  std::string h = Sha256Hex("x");
  EXPECT_FALSE(DecodeManifest(R"({"files":[["a",420,1,")" + h + R"("],["a",420,1,")" + h + R"("]]})").ok());
  EXPECT_FALSE(DecodeManifest(R"({"files":[["a",420,-1,")" + h + R"("]]})").ok());
  EXPECT_FALSE(DecodeManifest(R"({"files":[["a",420,1,"XYZ"]]})").ok());
  EXPECT_TRUE(DecodeManifest(R"({"files":[["a",420,1,")" + h + R"("]]})").ok());
}

}  // namespace
}  // namespace gm
