// container_fs tests on a plain directory standing in for a container root:
// path-stat JSON and Go file modes, docker's path forms, symlinks resolved
// in the root, archive entry names, and uploads that try to escape.
#include "engine/container_fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/test_util.h"
#include "engine/errors.h"
#include "image/test_util.h"

namespace berth::engine {
namespace {

using image::testing::build_tar;
using image::testing::TarEntry;
using test::TempDir;

struct Root {
  TempDir t;
  std::string dir = t / "root";
  UniqueFd fd;
  Root() {
    mkdir_all(dir + "/etc");
    mkdir_all(dir + "/tmp/d/sub");
    mkdir_all(dir + "/var/data");
    write_file(dir + "/etc/hostname", "box\n");
    write_file(dir + "/tmp/d/sub/f", "deep\n");
    ::symlink("/etc/hostname", (dir + "/tmp/abs-link").c_str());
    ::symlink("../../../../etc", (dir + "/tmp/climbing-link").c_str());
    ::symlink("/var/data", (dir + "/data").c_str());
    ::chmod((dir + "/tmp").c_str(), 01777);
    fd.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
};

// (name, type char, symlink target) of every entry of a tar.
std::vector<std::string> tar_names(int fd) {
  std::vector<std::string> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) fail("open tar");
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string n = archive_entry_pathname(e);
    if (archive_entry_filetype(e) == AE_IFLNK) n += " -> " + std::string(archive_entry_symlink(e));
    out.push_back(n);
  }
  archive_read_free(a);
  return out;
}

std::vector<std::string> archive_names(const Root& r, const std::string& path) {
  TempDir t;
  std::string tar = t / "out.tar";
  {
    UniqueFd out(::open(tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    archive_path(r.fd.get(), path, out.get(), false);
  }
  UniqueFd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  return tar_names(in.get());
}

void extract_bytes(const Root& r, const std::string& path, const std::string& bytes, bool no_overwrite = false) {
  TempDir t;
  write_file(t / "in.tar", bytes);
  UniqueFd in(::open((t / "in.tar").c_str(), O_RDONLY | O_CLOEXEC));
  extract_archive(r.fd.get(), path, in.get(), no_overwrite);
}

TEST(GoFileMode, MatchesGoBits) {
  EXPECT_EQ(go_file_mode(S_IFREG | 0644), 0644u);
  EXPECT_EQ(go_file_mode(S_IFDIR | 0755), 2147484141u);             // what dockerd sends for "/"
  EXPECT_EQ(go_file_mode(S_IFDIR | 01777), 2148532735u);            // /tmp: ModeDir|ModeSticky|0777
  EXPECT_EQ(go_file_mode(S_IFLNK | 0777), 134218239u);              // /bin/sh -> busybox
  EXPECT_EQ(go_file_mode(S_IFCHR | 0666), (1u << 26 | 1u << 21 | 0666));
  EXPECT_EQ(go_file_mode(S_IFREG | 04755), (1u << 23 | 0755));
}

TEST(PathStat, JsonIsDockersShape) {
  PathStat s{"passwd", 83, 420, "2026-11-27T04:01:31.66189895Z", ""};
  EXPECT_EQ(s.to_json().dump(),
            R"({"name":"passwd","size":83,"mode":420,"mtime":"2026-11-27T04:01:31.66189895Z","linkTarget":""})");
}

TEST(StatPath, FileDirRootAndDotForms) {
  Root r;
  PathStat f = stat_path(r.fd.get(), "/etc/hostname");
  EXPECT_EQ(f.name, "hostname");
  EXPECT_EQ(f.size, 4);
  EXPECT_EQ(f.mode, 0644u);
  EXPECT_EQ(f.link_target, "");
  EXPECT_EQ(stat_path(r.fd.get(), "etc/hostname").name, "hostname");  // relative means absolute
  EXPECT_EQ(stat_path(r.fd.get(), "/tmp/").name, "tmp");
  EXPECT_EQ(stat_path(r.fd.get(), "/tmp/").mode, 2148532735u);
  EXPECT_EQ(stat_path(r.fd.get(), "/tmp/d/.").name, ".");
  EXPECT_EQ(stat_path(r.fd.get(), "/").name, "/");
  EXPECT_TRUE(stat_path(r.fd.get(), "/").mode & (1u << 31));
}

TEST(StatPath, SymlinksAreReportedNotFollowedAndResolvedInRoot) {
  Root r;
  PathStat l = stat_path(r.fd.get(), "/tmp/abs-link");
  EXPECT_EQ(l.mode & (1u << 27), 1u << 27);
  EXPECT_EQ(l.link_target, "/etc/hostname");
  // A relative target that climbs out stops at the root: /etc, not the host's.
  EXPECT_EQ(stat_path(r.fd.get(), "/tmp/climbing-link").link_target, "/etc");
  // Through a symlinked parent: /data -> /var/data.
  mkdir_all(r.dir + "/var/data/x");
  EXPECT_EQ(stat_path(r.fd.get(), "/data/x").name, "x");
  // A trailing slash follows the link (it names the directory).
  EXPECT_TRUE(stat_path(r.fd.get(), "/data/").mode & (1u << 31));
}

TEST(StatPath, MissingIsNotFound) {
  Root r;
  EXPECT_THROW(stat_path(r.fd.get(), "/nope"), NotFoundError);
  EXPECT_THROW(stat_path(r.fd.get(), "/nope/deeper"), NotFoundError);
  EXPECT_THROW(stat_path(r.fd.get(), "/etc/hostname/x"), NotFoundError);
}

TEST(ResolveInScope, NeverLeavesTheRoot) {
  Root r;
  EXPECT_EQ(resolve_in_scope(r.fd.get(), "/tmp/climbing-link/hostname"), "/etc/hostname");
  EXPECT_EQ(resolve_in_scope(r.fd.get(), "/../../data/missing"), "/var/data/missing");
  ::symlink("loop2", (r.dir + "/loop1").c_str());
  ::symlink("loop1", (r.dir + "/loop2").c_str());
  EXPECT_THROW(resolve_in_scope(r.fd.get(), "/loop1"), Error);
}

TEST(ArchivePath, EntriesAreNamedLikeDockers) {
  Root r;
  EXPECT_EQ(archive_names(r, "/etc/hostname"), (std::vector<std::string>{"hostname"}));
  EXPECT_EQ(archive_names(r, "/tmp/d"), (std::vector<std::string>{"d/", "d/sub/", "d/sub/f"}));
  EXPECT_EQ(archive_names(r, "/tmp/d/"), (std::vector<std::string>{"d/", "d/sub/", "d/sub/f"}));
  EXPECT_EQ(archive_names(r, "/tmp/d/."), (std::vector<std::string>{"./", "./sub/", "./sub/f"}));
  // A symlink is archived as itself.
  EXPECT_EQ(archive_names(r, "/tmp/abs-link"), (std::vector<std::string>{"abs-link -> /etc/hostname"}));
  // Through a symlinked parent the entry keeps the requested name.
  EXPECT_EQ(archive_names(r, "/data/"), (std::vector<std::string>{"data/"}));
  EXPECT_THROW(archive_names(r, "/nope"), NotFoundError);
}

TEST(Extract, IntoDirectoriesOnly) {
  Root r;
  extract_bytes(r, "/tmp", build_tar({{.name = "hello.txt", .data = "hi\n"}}));
  EXPECT_EQ(read_file(r.dir + "/tmp/hello.txt"), "hi\n");
  // Through a symlink to a directory.
  extract_bytes(r, "/data", build_tar({{.name = "in-volume", .data = "v"}}));
  EXPECT_EQ(read_file(r.dir + "/var/data/in-volume"), "v");
  EXPECT_THROW(extract_bytes(r, "/etc/hostname", build_tar({{.name = "x"}})), InvalidArgumentError);
  EXPECT_THROW(extract_bytes(r, "/missing", build_tar({{.name = "x"}})), NotFoundError);
}

TEST(Extract, KeepsWhiteoutNamesAndLeavesTheDestinationAlone) {
  Root r;
  extract_bytes(r, "/tmp", build_tar({{.name = ".", .type = 'd', .mode = 0700}, {.name = ".wh.keep", .data = "k"}}));
  EXPECT_EQ(read_file(r.dir + "/tmp/.wh.keep"), "k");
  struct stat st;
  ASSERT_EQ(::stat((r.dir + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
}

TEST(Extract, NoOverwriteDirNonDir) {
  Root r;
  EXPECT_THROW(extract_bytes(r, "/tmp", build_tar({{.name = "d", .data = "file now"}}), true), InvalidArgumentError);
  EXPECT_TRUE(path_exists(r.dir + "/tmp/d/sub/f"));
  extract_bytes(r, "/tmp", build_tar({{.name = "d", .data = "file now"}}), false);
  EXPECT_EQ(read_file(r.dir + "/tmp/d"), "file now");
}

TEST(Extract, EscapesAreRefusedOrConfined) {
  Root r;
  std::string outside = r.t / "outside";
  // "../../outside" climbs out of the destination: refused.
  EXPECT_THROW(extract_bytes(r, "/tmp", build_tar({{.name = "../../outside", .data = "evil"}})), InvalidArgumentError);
  // A relative symlink climbing out: refused.
  EXPECT_THROW(extract_bytes(r, "/tmp", build_tar({{.name = "up", .type = 'l', .link = "../../.."}})),
               InvalidArgumentError);
  // An absolute symlink to "/" and a file through it: lands inside the destination.
  extract_bytes(r, "/tmp", build_tar({{.name = "root", .type = 'l', .link = "/"}, {.name = "root/evil", .data = "e"}}));
  EXPECT_FALSE(path_exists(outside));
  EXPECT_FALSE(path_exists("/evil"));
  EXPECT_EQ(read_file(r.dir + "/tmp/evil"), "e");
  // An extraction point given with ".." stays in the root.
  extract_bytes(r, "/../../tmp", build_tar({{.name = "again", .data = "a"}}));
  EXPECT_EQ(read_file(r.dir + "/tmp/again"), "a");
}

}  // namespace
}  // namespace berth::engine
