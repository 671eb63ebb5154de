// container_changes tests: fake lower layers and an upper dir built the way
// overlayfs leaves them (0:0 char device whiteouts, the opaque xattr).
#include "engine/container_changes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/test_util.h"

namespace berth::engine {
namespace {

using test::TempDir;

void whiteout(const std::string& p) {
  if (::mknod(p.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) fail_errno("mknod {}", p);
}
void opaque(const std::string& p) {
  if (::setxattr(p.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) fail_errno("setxattr {}", p);
}

std::string show(const std::vector<Change>& cs) {
  std::string out;
  for (const auto& c : cs) out += "CAD"[static_cast<int>(c.kind)] + std::string(" ") + c.path + "\n";
  return out;
}

struct Layers {
  TempDir t;
  std::string bottom = t / "l0", top = t / "l1", upper = t / "upper";
  Layers() {
    // bottom: /etc/{passwd,group}, /var/cache/{a,b}, /usr/bin/tool, /old
    mkdir_all(bottom + "/etc");
    write_file(bottom + "/etc/passwd", "root\n");
    write_file(bottom + "/etc/group", "root\n");
    mkdir_all(bottom + "/var/cache");
    write_file(bottom + "/var/cache/a", "a");
    write_file(bottom + "/var/cache/b", "b");
    mkdir_all(bottom + "/usr/bin");
    write_file(bottom + "/usr/bin/tool", "t");
    write_file(bottom + "/old", "o");
    // top: deletes /old, adds /var/cache/c, replaces /usr with an opaque dir holding /usr/lib
    mkdir_all(top + "/var/cache");
    write_file(top + "/var/cache/c", "c");
    whiteout(top + "/old");
    mkdir_all(top + "/usr/lib");
    opaque(top + "/usr");
    mkdir_all(upper);
  }
  LowerLayers lower() const { return LowerLayers({top, bottom}); }
};

TEST(LowerLayers, ReadLikeOverlay) {
  Layers l;
  LowerLayers lower = l.lower();
  EXPECT_TRUE(lower.lookup("/etc/passwd"));
  EXPECT_TRUE(lower.lookup("/var/cache/c"));
  EXPECT_TRUE(lower.lookup("/var/cache/a"));
  EXPECT_FALSE(lower.lookup("/old"));           // whited out by the top layer
  EXPECT_FALSE(lower.lookup("/usr/bin/tool"));  // hidden by the opaque /usr
  EXPECT_TRUE(lower.lookup("/usr/lib"));
  EXPECT_FALSE(lower.lookup("/etc/passwd/x"));
  EXPECT_EQ(lower.children("/var/cache"), (std::set<std::string>{"a", "b", "c"}));
  EXPECT_EQ(lower.children("/usr"), (std::set<std::string>{"lib"}));
  EXPECT_EQ(lower.children("/"), (std::set<std::string>{"etc", "usr", "var"}));
}

TEST(ComputeChanges, NothingChangedIsEmpty) {
  Layers l;
  EXPECT_EQ(show(compute_changes(l.upper, l.lower())), "");
}

TEST(ComputeChanges, AddedModifiedDeletedSortedByPath) {
  Layers l;
  // Modified /etc/passwd (copied up), deleted /etc/group, a new /tmp/x/y.
  mkdir_all(l.upper + "/etc");
  write_file(l.upper + "/etc/passwd", "root\nme\n");
  whiteout(l.upper + "/etc/group");
  mkdir_all(l.upper + "/tmp/x");
  write_file(l.upper + "/tmp/x/y", "new");
  // A copied-up directory with no change of its own beneath it is not listed.
  mkdir_all(l.upper + "/var");
  EXPECT_EQ(show(compute_changes(l.upper, l.lower())),
            "C /etc\n"
            "D /etc/group\n"
            "C /etc/passwd\n"
            "A /tmp\n"
            "A /tmp/x\n"
            "A /tmp/x/y\n");
}

TEST(ComputeChanges, OpaqueDirectoryDeletesWhatItHides) {
  Layers l;
  // rm -rf /var/cache && mkdir /var/cache && touch /var/cache/b
  mkdir_all(l.upper + "/var/cache");
  opaque(l.upper + "/var/cache");
  write_file(l.upper + "/var/cache/b", "new b");
  EXPECT_EQ(show(compute_changes(l.upper, l.lower())),
            "C /var\n"
            "C /var/cache\n"
            "D /var/cache/a\n"
            "A /var/cache/b\n"  // the lower b is hidden: this one is new
            "D /var/cache/c\n");
}

TEST(ComputeChanges, DirectoryMetadataCounts) {
  Layers l;
  mkdir_all(l.upper + "/etc");
  ::chmod((l.upper + "/etc").c_str(), 0700);
  EXPECT_EQ(show(compute_changes(l.upper, l.lower())), "C /etc\n");
}

TEST(ComputeChanges, RuntimePlaceholdersAreNotChanges) {
  Layers l;
  mkdir_all(l.upper + "/etc");
  write_file(l.upper + "/etc/hostname", "");
  write_file(l.upper + "/etc/hosts", "");
  mkdir_all(l.upper + "/proc");
  mkdir_all(l.upper + "/dev/pts");
  EXPECT_EQ(show(compute_changes(l.upper, l.lower())), "A /dev\n");
  // Written to, they are changes again.
  write_file(l.upper + "/etc/hostname", "renamed\n");
  EXPECT_EQ(show(compute_changes(l.upper, l.lower())), "A /dev\nC /etc\nA /etc/hostname\n");
}

}  // namespace
}  // namespace berth::engine
