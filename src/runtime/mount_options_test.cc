#include "runtime/mount_options.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace berth::runtime {
namespace {

MountOptions parse(std::vector<std::string> o) { return parse_mount_options(o); }

TEST(MountOptions, EmptyIsNothing) {
  MountOptions o = parse({});
  EXPECT_EQ(o.flags, 0u);
  EXPECT_EQ(o.clear, 0u);
  EXPECT_EQ(o.propagation, 0u);
  EXPECT_FALSE(o.bind);
  EXPECT_FALSE(o.recursive);
  EXPECT_EQ(o.attr_set, 0u);
  EXPECT_EQ(o.attr_clr, 0u);
  EXPECT_EQ(o.data, "");
}

TEST(MountOptions, LaterOptionOverridesEarlier) {
  MountOptions o = parse({"ro", "rw"});
  EXPECT_FALSE(o.flags & MS_RDONLY);
  EXPECT_TRUE(o.clear & MS_RDONLY);
  o = parse({"rw", "ro"});
  EXPECT_TRUE(o.flags & MS_RDONLY);
  EXPECT_FALSE(o.clear & MS_RDONLY);
  o = parse({"nosuid", "suid"});
  EXPECT_FALSE(o.flags & MS_NOSUID);
  EXPECT_TRUE(o.clear & MS_NOSUID);
  o = parse({"suid", "nosuid"});
  EXPECT_TRUE(o.flags & MS_NOSUID);
  EXPECT_FALSE(o.clear & MS_NOSUID);
}

struct FlagCase {
  const char* name;
  bool clear;
  unsigned long flag;
};

class FlagTable : public ::testing::TestWithParam<FlagCase> {};

TEST_P(FlagTable, SetsOrClears) {
  const FlagCase& c = GetParam();
  MountOptions o = parse({c.name});
  if (c.clear) {
    EXPECT_EQ(o.flags, 0u) << c.name;
    EXPECT_EQ(o.clear, c.flag) << c.name;
  } else {
    EXPECT_EQ(o.flags, c.flag) << c.name;
    EXPECT_EQ(o.clear, 0u) << c.name;
  }
  EXPECT_EQ(o.data, "") << c.name << " must not reach the filesystem";
  EXPECT_FALSE(o.bind);
}

// runc's libcontainer/specconv table.
INSTANTIATE_TEST_SUITE_P(
    Runc, FlagTable,
    ::testing::Values(FlagCase{"async", true, MS_SYNCHRONOUS}, FlagCase{"atime", true, MS_NOATIME},
                      FlagCase{"defaults", false, 0}, FlagCase{"dev", true, MS_NODEV},
                      FlagCase{"diratime", true, MS_NODIRATIME}, FlagCase{"dirsync", false, MS_DIRSYNC},
                      FlagCase{"exec", true, MS_NOEXEC}, FlagCase{"iversion", false, MS_I_VERSION},
                      FlagCase{"lazytime", false, MS_LAZYTIME}, FlagCase{"loud", true, MS_SILENT},
                      FlagCase{"mand", false, MS_MANDLOCK}, FlagCase{"noatime", false, MS_NOATIME},
                      FlagCase{"nodev", false, MS_NODEV}, FlagCase{"nodiratime", false, MS_NODIRATIME},
                      FlagCase{"noexec", false, MS_NOEXEC}, FlagCase{"noiversion", true, MS_I_VERSION},
                      FlagCase{"nolazytime", true, MS_LAZYTIME}, FlagCase{"nomand", true, MS_MANDLOCK},
                      FlagCase{"norelatime", true, MS_RELATIME}, FlagCase{"nostrictatime", true, MS_STRICTATIME},
                      FlagCase{"nosuid", false, MS_NOSUID}, FlagCase{"nosymfollow", false, MS_NOSYMFOLLOW},
                      FlagCase{"relatime", false, MS_RELATIME}, FlagCase{"remount", false, MS_REMOUNT},
                      FlagCase{"ro", false, MS_RDONLY}, FlagCase{"rw", true, MS_RDONLY},
                      FlagCase{"silent", false, MS_SILENT}, FlagCase{"strictatime", false, MS_STRICTATIME},
                      FlagCase{"suid", true, MS_NOSUID}, FlagCase{"sync", false, MS_SYNCHRONOUS},
                      FlagCase{"symfollow", true, MS_NOSYMFOLLOW}));

TEST(MountOptions, FlagsAccumulate) {
  MountOptions o = parse({"nosuid", "noexec", "nodev", "ro"});
  EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
}

TEST(MountOptions, BindAndRbind) {
  MountOptions o = parse({"bind"});
  EXPECT_TRUE(o.bind);
  EXPECT_FALSE(o.recursive);
  EXPECT_EQ(o.flags & MS_BIND, 0u);  // bind is carried in .bind, not as a mount(2) flag
  o = parse({"rbind"});
  EXPECT_TRUE(o.bind);
  EXPECT_TRUE(o.recursive);
  o = parse({"rbind", "bind"});  // recursive once asked for
  EXPECT_TRUE(o.recursive);
  EXPECT_EQ(o.data, "");
}

TEST(MountOptions, PropagationNames) {
  EXPECT_EQ(propagation_flags("private"), static_cast<unsigned long>(MS_PRIVATE));
  EXPECT_EQ(propagation_flags("rprivate"), static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_EQ(propagation_flags("shared"), static_cast<unsigned long>(MS_SHARED));
  EXPECT_EQ(propagation_flags("rshared"), static_cast<unsigned long>(MS_SHARED | MS_REC));
  EXPECT_EQ(propagation_flags("slave"), static_cast<unsigned long>(MS_SLAVE));
  EXPECT_EQ(propagation_flags("rslave"), static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(propagation_flags("unbindable"), static_cast<unsigned long>(MS_UNBINDABLE));
  EXPECT_EQ(propagation_flags("runbindable"), static_cast<unsigned long>(MS_UNBINDABLE | MS_REC));
  EXPECT_EQ(propagation_flags(""), 0u);
  EXPECT_EQ(propagation_flags("RSLAVE"), 0u);
  EXPECT_EQ(propagation_flags("bogus"), 0u);

  MountOptions o = parse({"rbind", "rslave"});
  EXPECT_EQ(o.propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(o.flags, 0u);  // propagation is not mixed into the mount flags
  EXPECT_EQ(o.data, "");
  o = parse({"shared", "private"});
  EXPECT_EQ(o.propagation, static_cast<unsigned long>(MS_PRIVATE));
}

TEST(MountOptions, RecursiveAttributes) {
  MountOptions o = parse({"rro", "rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow"});
  EXPECT_EQ(o.attr_set, static_cast<unsigned long long>(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                        MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODIRATIME |
                                                        MOUNT_ATTR_NOSYMFOLLOW));
  EXPECT_EQ(o.attr_clr, 0u);
  EXPECT_EQ(o.flags, 0u);  // recursive attributes are not per-mount flags
  EXPECT_EQ(o.data, "");
  o = parse({"rrw", "rsuid", "rdev", "rexec", "rdiratime", "rsymfollow"});
  EXPECT_EQ(o.attr_set, 0u);
  EXPECT_EQ(o.attr_clr, static_cast<unsigned long long>(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                        MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODIRATIME |
                                                        MOUNT_ATTR_NOSYMFOLLOW));
  EXPECT_EQ(o.data, "");
}

TEST(MountOptions, RecursiveAttributesLaterOverridesEarlier) {
  MountOptions o = parse({"rro", "rrw"});
  EXPECT_FALSE(o.attr_set & MOUNT_ATTR_RDONLY);
  EXPECT_TRUE(o.attr_clr & MOUNT_ATTR_RDONLY);
  o = parse({"rrw", "rro"});
  EXPECT_TRUE(o.attr_set & MOUNT_ATTR_RDONLY);
  EXPECT_FALSE(o.attr_clr & MOUNT_ATTR_RDONLY);
}

// mount_setattr(2): an access-time mode in attr_set needs MOUNT_ATTR__ATIME in
// attr_clr, or the kernel answers EINVAL; "rrelatime" (MOUNT_ATTR_RELATIME is
// 0) is expressed by clearing MOUNT_ATTR__ATIME alone.
TEST(MountOptions, RecursiveAccessTimeModes) {
  MountOptions o = parse({"rnoatime"});
  EXPECT_EQ(o.attr_set, static_cast<unsigned long long>(MOUNT_ATTR_NOATIME));
  EXPECT_EQ(o.attr_clr, static_cast<unsigned long long>(MOUNT_ATTR__ATIME));
  o = parse({"rstrictatime"});
  EXPECT_EQ(o.attr_set, static_cast<unsigned long long>(MOUNT_ATTR_STRICTATIME));
  EXPECT_EQ(o.attr_clr, static_cast<unsigned long long>(MOUNT_ATTR__ATIME));
  o = parse({"rrelatime"});
  EXPECT_EQ(o.attr_set, 0u);
  EXPECT_EQ(o.attr_clr, static_cast<unsigned long long>(MOUNT_ATTR__ATIME));
  // Only one access-time mode at a time: the last one.
  o = parse({"rnoatime", "rstrictatime"});
  EXPECT_EQ(o.attr_set, static_cast<unsigned long long>(MOUNT_ATTR_STRICTATIME));
  o = parse({"rnoatime", "rrelatime"});
  EXPECT_EQ(o.attr_set & MOUNT_ATTR__ATIME, 0u);
  EXPECT_EQ(o.attr_clr, static_cast<unsigned long long>(MOUNT_ATTR__ATIME));
  // runc's negative forms are recognised (never passed to the filesystem).
  for (const char* name : {"ratime", "rnorelatime", "rnostrictatime"}) {
    o = parse({name});
    EXPECT_EQ(o.data, "") << name;
    EXPECT_EQ(o.attr_set & MOUNT_ATTR__ATIME, 0u) << name;
  }
  o = parse({"rnoatime", "ratime"});
  EXPECT_EQ(o.attr_set & MOUNT_ATTR__ATIME, 0u);
  o = parse({"rstrictatime", "rnostrictatime"});
  EXPECT_EQ(o.attr_set & MOUNT_ATTR__ATIME, 0u);
}

// The attributes are what mount_setattr(2) accepts: applied in a child's
// private mount namespace to a fresh tmpfs with a submount, recursively.
TEST(MountOptions, RecursiveAttributesAcceptedByMountSetattr) {
  char tmpl[] = "/tmp/berth-mountopt-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0) _exit(90);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(91);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, nullptr) != 0) _exit(92);
    std::string sub = dir + "/sub";
    if (::mkdir(sub.c_str(), 0755) != 0 || ::mount("tmpfs", sub.c_str(), "tmpfs", 0, nullptr) != 0) _exit(93);
    int code = 1;
    for (auto [opts, want] : std::vector<std::pair<std::vector<std::string>, unsigned long>>{
             {{"rnoatime", "rro"}, ST_NOATIME | ST_RDONLY},
             {{"rrw", "rstrictatime", "rnosuid"}, ST_NOSUID},
             {{"rrelatime", "rsuid"}, ST_RELATIME},
             {{"rnoatime", "ratime"}, ST_RELATIME}}) {
      MountOptions o = parse_mount_options(opts);
      struct mount_attr attr {};
      attr.attr_set = o.attr_set;
      attr.attr_clr = o.attr_clr;
      if (::mount_setattr(AT_FDCWD, dir.c_str(), AT_RECURSIVE, &attr, sizeof attr) != 0) _exit(10 * code);
      struct statvfs st;
      unsigned long mask = ST_NOATIME | ST_RDONLY | ST_NOSUID | ST_RELATIME;
      if (::statvfs(sub.c_str(), &st) != 0 || (st.f_flag & mask) != want) _exit(10 * code + 1);
      ++code;
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::rmdir(dir.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10*case (+1: flags wrong after mount_setattr); 9x: set-up failed";
}

TEST(MountOptions, UnknownOptionsGoToDataInOrder) {
  MountOptions o = parse({"nosuid", "mode=755", "strictatime", "size=65536k", "uid=5"});
  EXPECT_EQ(o.data, "mode=755,size=65536k,uid=5");
  EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME));
  EXPECT_EQ(parse({"newinstance"}).data, "newinstance");
}

TEST(MountOptions, RuncExtensionsAreDropped) {
  MountOptions o = parse({"tmpcopyup", "mode=1777", "idmap", "ridmap"});
  EXPECT_EQ(o.data, "mode=1777");
}

}  // namespace
}  // namespace berth::runtime
