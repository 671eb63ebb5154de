#include "image/reference.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_util.h"

namespace berth::image {
namespace {

using berth::test::error_of;

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(Reference, OfficialImageGetsDockerIoLibraryAndLatest) {
  Reference r = parse_reference("busybox");
  EXPECT_EQ(r.domain, "docker.io");
  EXPECT_EQ(r.path, "library/busybox");
  EXPECT_FALSE(r.tag);
  EXPECT_FALSE(r.digest);
  Reference t = with_default_tag(r);
  EXPECT_EQ(t.tag, "latest");
  EXPECT_EQ(t.str(), "docker.io/library/busybox:latest");
  EXPECT_EQ(t.familiar(), "busybox:latest");
  EXPECT_EQ(t.name(), "docker.io/library/busybox");
  EXPECT_EQ(t.familiar_name(), "busybox");
}

TEST(Reference, UserRepository) {
  Reference r = with_default_tag(parse_reference("user/app:1"));
  EXPECT_EQ(r.str(), "docker.io/user/app:1");
  EXPECT_EQ(r.familiar(), "user/app:1");
  EXPECT_EQ(parse_reference("docker.io/user/app").familiar(), "user/app");
  EXPECT_EQ(parse_reference("index.docker.io/busybox").str(), "docker.io/library/busybox");
  EXPECT_EQ(parse_reference("docker.io/library/busybox:1.36").familiar(), "busybox:1.36");
  // Nested names under library/ keep their prefix in the familiar form.
  EXPECT_EQ(parse_reference("library/a/b").familiar(), "library/a/b");
}

TEST(Reference, RegistryWithPortAndLocalhost) {
  Reference r = parse_reference("localhost:5000/x:1");
  EXPECT_EQ(r.domain, "localhost:5000");
  EXPECT_EQ(r.path, "x");
  EXPECT_EQ(r.tag, "1");
  EXPECT_EQ(r.familiar(), "localhost:5000/x:1");
  EXPECT_EQ(parse_reference("localhost/x").domain, "localhost");
  EXPECT_EQ(parse_reference("[::1]:5000/ns/x").domain, "[::1]:5000");
  // Without a slash "localhost:5000" is the name "localhost" with tag "5000", as in Go.
  Reference odd = parse_reference("localhost:5000");
  EXPECT_EQ(odd.path, "library/localhost");
  EXPECT_EQ(odd.tag, "5000");
  // An uppercase first component is a domain, not a (bad) path.
  EXPECT_EQ(parse_reference("Registry/x").domain, "Registry");
}

TEST(Reference, DigestAndTagPlusDigest) {
  Reference d = parse_reference("host.example/ns/name@sha256:" + kHex);
  EXPECT_EQ(d.domain, "host.example");
  EXPECT_EQ(d.path, "ns/name");
  EXPECT_FALSE(d.tag);
  EXPECT_EQ(d.digest, "sha256:" + kHex);
  EXPECT_EQ(with_default_tag(d).tag, std::nullopt);  // TagNameOnly leaves digests alone
  Reference both = parse_reference("busybox:1@sha256:" + kHex);
  EXPECT_EQ(both.tag, "1");
  EXPECT_EQ(both.digest, "sha256:" + kHex);
  EXPECT_EQ(both.str(), "docker.io/library/busybox:1@sha256:" + kHex);
  EXPECT_EQ(both.familiar(), "busybox:1@sha256:" + kHex);
}

TEST(Reference, RejectsUppercaseRepositoryNames) {
  EXPECT_EQ(error_of([] { parse_reference("Busybox"); }),
            "invalid reference format: repository name must be lowercase");
  EXPECT_EQ(error_of([] { parse_reference("host.example/Ns/name:1"); }),
            "invalid reference format: repository name must be lowercase");
  // Uppercase is fine in tags.
  EXPECT_EQ(parse_reference("busybox:Latest").tag, "Latest");
}

TEST(Reference, RejectsBadFormats) {
  for (const char* bad : {"busybox:", "busybox:-x", ":tag", "a//b", "a/b/", "-a", "a__-b", "busy box",
                          "a:b:c", "busybox@sha256:123", "busybox@", "", "host:abc/x"}) {
    EXPECT_EQ(error_of([&] { parse_reference(bad); }), "invalid reference format") << bad;
  }
  std::string long_tag(129, 'a');
  EXPECT_EQ(error_of([&] { parse_reference("busybox:" + long_tag); }), "invalid reference format");
  EXPECT_NO_THROW(parse_reference("busybox:" + std::string(128, 'a')));
}

TEST(Reference, DigestValidation) {
  EXPECT_EQ(error_of([] { parse_reference("busybox@md5:0123456789abcdef0123456789abcdef"); }),
            "unsupported digest algorithm");
  EXPECT_EQ(error_of([] { parse_reference("busybox@sha256:0123456789abcdef0123456789abcdef"); }),
            "invalid checksum digest length");
  EXPECT_EQ(error_of([] { parse_reference("busybox@sha256:AB" + kHex.substr(2)); }),
            "invalid checksum digest format");
}

TEST(Reference, RejectsBareIdsAndLongNames) {
  EXPECT_EQ(error_of([] { parse_reference(kHex); }),
            "invalid repository name (" + kHex + "), cannot specify 64-byte hexadecimal strings");
  std::string name(250, 'a');
  EXPECT_EQ(error_of([&] { parse_reference("x/" + name); }), "repository name must not be more than 255 characters");
}

TEST(Reference, SeparatorsFollowTheGrammar) {
  EXPECT_NO_THROW(parse_reference("a.b_c__d---e/f"));
  EXPECT_EQ(parse_reference("my-reg.example.com:443/a/b/c:v1.0_x-y").domain, "my-reg.example.com:443");
  // Go's quirk: an invalid domain makes the whole name a path.
  Reference q = parse_reference("a_b.c/foo");
  EXPECT_EQ(q.domain, "");
  EXPECT_EQ(q.path, "a_b.c/foo");
}

TEST(Reference, ValidTags) {
  EXPECT_TRUE(is_valid_tag("latest"));
  EXPECT_TRUE(is_valid_tag("_x.Y-1"));
  EXPECT_FALSE(is_valid_tag(".x"));
  EXPECT_FALSE(is_valid_tag(""));
  EXPECT_FALSE(is_valid_tag("a/b"));
}

}  // namespace
}  // namespace berth::image
