#include "engine/volume_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/fs.h"
#include "base/test_util.h"

namespace berth::engine {
namespace {

struct stat lstat_of(const std::string& p) {
  struct stat st{};
  if (::lstat(p.c_str(), &st) != 0) fail_errno("lstat {}", p);
  return st;
}

TEST(CopyImageContent, CopiesTheTreeWithOwnersModesLinksAndNodes) {
  if (geteuid() != 0) GTEST_SKIP() << "chown and mknod need root";
  test::TempDir root, vol;
  mkdir_all(root / "srv/app/sub");
  write_file(root / "srv/app/sub/conf", "key=value\n", 0640);
  ASSERT_EQ(::chown((root / "srv/app/sub/conf").c_str(), 1000, 1001), 0);
  ASSERT_EQ(::chown((root / "srv/app").c_str(), 33, 34), 0);
  ASSERT_EQ(::chmod((root / "srv/app").c_str(), 0750), 0);
  ASSERT_EQ(::chmod((root / "srv/app/sub").c_str(), 01777), 0);
  ASSERT_EQ(::symlink("sub/conf", (root / "srv/app/link").c_str()), 0);
  ASSERT_EQ(::link((root / "srv/app/sub/conf").c_str(), (root / "srv/app/hard").c_str()), 0);
  ASSERT_EQ(::mkfifo((root / "srv/app/fifo").c_str(), 0600), 0);
  ASSERT_EQ(::mknod((root / "srv/app/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root / "srv/app/sub/conf").c_str(), old, 0), 0);

  ASSERT_TRUE(copy_image_content(root.path(), "/srv/app", vol.path()));

  EXPECT_EQ(read_file(vol / "sub/conf"), "key=value\n");
  struct stat conf = lstat_of(vol / "sub/conf");
  EXPECT_EQ(conf.st_uid, 1000u);
  EXPECT_EQ(conf.st_gid, 1001u);
  EXPECT_EQ(conf.st_mode & 07777, 0640u);
  EXPECT_EQ(conf.st_mtim.tv_sec, 1000000000);
  EXPECT_EQ(lstat_of(vol / "sub").st_mode & 07777, 01777u);
  EXPECT_TRUE(S_ISLNK(lstat_of(vol / "link").st_mode));
  char target[64] = {};
  ASSERT_GT(::readlink((vol / "link").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "sub/conf");
  EXPECT_EQ(lstat_of(vol / "hard").st_ino, conf.st_ino) << "hard links stay linked";
  EXPECT_TRUE(S_ISFIFO(lstat_of(vol / "fifo").st_mode));
  EXPECT_EQ(lstat_of(vol / "null").st_rdev, makedev(1, 3));
  struct stat top = lstat_of(vol.path());
  EXPECT_EQ(top.st_uid, 33u) << "the volume takes the directory's owner";
  EXPECT_EQ(top.st_gid, 34u);
  EXPECT_EQ(top.st_mode & 07777, 0750u);
}

TEST(CopyImageContent, LeavesNonEmptyVolumesAndMissingPathsAlone) {
  test::TempDir root, vol;
  mkdir_all(root / "data");
  write_file(root / "data/from-image", "x");
  write_file(root / "file", "x");
  write_file(vol / "mine", "y");
  EXPECT_FALSE(copy_image_content(root.path(), "/data", vol.path()));
  EXPECT_FALSE(path_exists(vol / "from-image"));
  remove_all(vol / "mine");
  EXPECT_FALSE(copy_image_content(root.path(), "/nothing/here", vol.path()));
  EXPECT_FALSE(copy_image_content(root.path(), "/file", vol.path())) << "only directories are copied";
}

TEST(CopyImageContent, SymlinksInThePathStayInsideTheRoot) {
  test::TempDir outside, root, vol;
  write_file(outside / "secret", "s");
  mkdir_all(root / "etc");
  write_file(root / "etc/inside", "i");
  ASSERT_EQ(::symlink(outside.path().c_str(), (root / "escape").c_str()), 0);
  // "/escape" resolves to root/<outside path>, which does not exist in the root.
  EXPECT_FALSE(copy_image_content(root.path(), "/escape", vol.path()));
  EXPECT_FALSE(path_exists(vol / "secret"));
  ASSERT_EQ(::symlink("/etc", (root / "etclink").c_str()), 0);
  EXPECT_TRUE(copy_image_content(root.path(), "/etclink", vol.path()));
  EXPECT_EQ(read_file(vol / "inside"), "i");
}

}  // namespace
}  // namespace berth::engine
