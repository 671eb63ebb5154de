#include "runtime/mountinfo.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::runtime {
namespace {

TEST(Mountinfo, ParsesFieldsWithOptionalFields) {
  auto m = parse_mountinfo(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n"
      "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].root, "/mnt1");
  EXPECT_EQ(m[0].mount_point, "/mnt2");
  EXPECT_EQ(m[0].options, "rw,noatime");
  EXPECT_EQ(m[0].fs_type, "ext3");
  EXPECT_EQ(m[0].source, "/dev/root");
  EXPECT_EQ(m[0].super_options, "rw,errors=continue");
  EXPECT_EQ(m[1].root, "/");
  EXPECT_EQ(m[1].mount_point, "/proc");
  EXPECT_EQ(m[1].options, "rw,nosuid,nodev,noexec,relatime");
  EXPECT_EQ(m[1].fs_type, "proc");
  EXPECT_EQ(m[1].source, "proc");
  EXPECT_EQ(m[1].super_options, "rw");
}

TEST(Mountinfo, UnescapesOctal) {
  auto m = parse_mountinfo(
      "40 22 0:50 /a\\134b /mnt/with\\040space\\011tab\\012nl rw - tmpfs my\\040src rw\n");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].root, "/a\\b");
  EXPECT_EQ(m[0].mount_point, "/mnt/with space\ttab\nnl");
  EXPECT_EQ(m[0].source, "my src");
}

TEST(Mountinfo, LeavesIncompleteEscapesAlone) {
  auto m = parse_mountinfo("40 22 0:50 / /x\\04 rw - tmpfs t rw\n41 22 0:51 / /y\\9zz rw - tmpfs t rw\n");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].mount_point, "/x\\04");
  EXPECT_EQ(m[1].mount_point, "/y\\9zz");
}

TEST(Mountinfo, EscapeAtEndOfField) {
  auto m = parse_mountinfo("40 22 0:50 / /end\\040 rw - tmpfs t rw");  // no trailing newline
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].mount_point, "/end ");
}

TEST(Mountinfo, SkipsMalformedLines) {
  auto m = parse_mountinfo(
      "\n"
      "garbage\n"
      "1 2 3:4 / /nodash rw tmpfs t rw\n"
      "1 2 3:4 / /short rw - tmpfs\n"
      "5 6 7:8 / /ok rw - tmpfs t rw\n");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].mount_point, "/ok");
  EXPECT_TRUE(parse_mountinfo("").empty());
}

TEST(Mountinfo, EmptySourceKeepsFieldPositions) {
  auto m = parse_mountinfo("5 6 7:8 / /ok rw - tmpfs  rw,size=1k\n");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].source, "");
  EXPECT_EQ(m[0].super_options, "rw,size=1k");
}

TEST(Mountinfo, RealSelfMountinfoHasRoot) {
  auto m = read_mountinfo();
  ASSERT_FALSE(m.empty());
  EXPECT_TRUE(std::any_of(m.begin(), m.end(), [](const MountInfo& i) { return i.mount_point == "/"; }));
  EXPECT_TRUE(std::any_of(m.begin(), m.end(), [](const MountInfo& i) { return i.fs_type == "proc"; }));
  for (const auto& i : m) {
    EXPECT_FALSE(i.mount_point.empty());
    EXPECT_FALSE(i.fs_type.empty());
  }
}

TEST(Mountinfo, MissingFileIsAnError) { EXPECT_THROW(read_mountinfo("/proc/self/no-such-mountinfo"), Error); }

}  // namespace
}  // namespace berth::runtime
