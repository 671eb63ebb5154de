#include "engine/user_lookup.h"

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"

namespace berth::engine {
namespace {

using ::testing::ElementsAre;

constexpr const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "\n"
    "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
    "broken line\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
constexpr const char* kGroup =
    "root:x:0:\n"
    "bin:x:1:root,daemon\n"
    "adm:x:4:root,www-data\n"
    "www-data:x:33:\n"
    "video:x:44:www-data\n"
    "nogroup:x:65534:\n";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ResolvedUser resolve(const std::string& spec, std::vector<std::string> add = {}) {
  return resolve_user(spec, add, std::string(kPasswd), std::string(kGroup));
}

TEST(User, EmptySpecIsRootWithRootsGroups) {
  auto u = resolve("");
  EXPECT_EQ(u.uid, 0u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_THAT(u.additional_gids, ElementsAre(0u, 1u, 4u));  // primary first, like docker
  EXPECT_EQ(u.home, "/root");
}

TEST(User, NameResolvesUidGidAndMemberships) {
  auto u = resolve("www-data");
  EXPECT_EQ(u.uid, 33u);
  EXPECT_EQ(u.gid, 33u);
  EXPECT_THAT(u.additional_gids, ElementsAre(33u, 4u, 44u));
}

TEST(User, NobodyResolves) {
  auto u = resolve("nobody");
  EXPECT_EQ(u.uid, 65534u);
  EXPECT_EQ(u.gid, 65534u);
}

TEST(User, NumericUidFindsItsEntryOrStandsAlone) {
  EXPECT_EQ(resolve("33").gid, 33u);
  auto u = resolve("1234");
  EXPECT_EQ(u.uid, 1234u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_THAT(u.additional_gids, ElementsAre(0u));
}

TEST(User, ExplicitGroupReplacesPrimaryAndMemberships) {
  auto u = resolve("www-data:video");
  EXPECT_EQ(u.uid, 33u);
  EXPECT_EQ(u.gid, 44u);
  EXPECT_THAT(u.additional_gids, ElementsAre(44u));
  auto n = resolve("1000:1000");
  EXPECT_EQ(n.uid, 1000u);
  EXPECT_EQ(n.gid, 1000u);
}

TEST(User, GroupAddByNameOrNumber) {
  auto u = resolve("daemon", {"video", "2000", "video"});
  EXPECT_THAT(u.additional_gids, ElementsAre(1u, 1u, 44u, 2000u));
}

TEST(User, UnknownNamesFailLikeDocker) {
  EXPECT_EQ(error_of([] { resolve("nosuch"); }), "unable to find user nosuch: no matching entries in passwd file");
  EXPECT_EQ(error_of([] { resolve("root:nosuch"); }), "unable to find group nosuch: no matching entries in group file");
  EXPECT_EQ(error_of([] { resolve("root", {"nosuch"}); }),
            "Unable to find group nosuch: no matching entries in group file");
  EXPECT_EQ(error_of([] { resolve("-5"); }), "uids and gids must be in range 0-2147483647");
}

TEST(User, MissingFilesAllowNumericIdsOnly) {
  auto u = resolve_user("1000:1000", {"5"}, std::nullopt, std::nullopt);
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_THAT(u.additional_gids, ElementsAre(1000u, 5u));
  EXPECT_EQ(resolve_user("", {}, std::nullopt, std::nullopt).uid, 0u);
  EXPECT_EQ(error_of([] { resolve_user("nobody", {}, std::nullopt, std::nullopt); }),
            "unable to find user nobody: no matching entries in passwd file");
}

TEST(User, ReadsFilesInsideTheRootfsOnly) {
  test::TempDir dir;
  mkdir_all(dir / "etc");
  write_file(dir / "etc/passwd", kPasswd);
  write_file(dir / "etc/group", kGroup);
  EXPECT_EQ(resolve_user_in_rootfs(dir.path(), "www-data", {}).uid, 33u);

  // An absolute symlink resolves inside the rootfs, never to the host's file.
  test::TempDir evil;
  mkdir_all(evil / "etc");
  ASSERT_EQ(::symlink("/etc/shadow-not-here", (evil / "etc/passwd").c_str()), 0);
  EXPECT_EQ(error_of([&] { resolve_user_in_rootfs(evil.path(), "root", {}); }),
            "unable to find user root: no matching entries in passwd file");
}

}  // namespace
}  // namespace berth::engine
