#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_util.h"

namespace berth {
namespace {

using ::testing::HasSubstr;

using berth::test::TempDir;

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

void symlink_or_die(const std::string& target, const std::string& link) {
  if (::symlink(target.c_str(), link.c_str()) != 0) fail_errno("symlink {} -> {}", link, target);
}

UniqueFd open_dir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("open {}", path);
  return fd;
}

// Same inode and device: the descriptor names exactly that path.
bool same_file(int fd, const std::string& path) {
  struct stat a, b;
  if (::fstat(fd, &a) != 0 || ::stat(path.c_str(), &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A root with escape attempts in it:
//   etc/passwd         "inside passwd"
//   abs   -> /etc               (absolute symlink)
//   up    -> ../../..           (relative symlink climbing out)
//   loop  -> loop
//   c1 -> c2 -> c3 -> real/     (directory symlink chain), real/file "chained"
class RootFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    mkdir_all(tmp / "root/etc");
    mkdir_all(tmp / "root/real");
    write_file(tmp / "root/etc/passwd", "inside passwd");
    write_file(tmp / "root/real/file", "chained");
    symlink_or_die("/etc", tmp / "root/abs");
    symlink_or_die("../../..", tmp / "root/up");
    symlink_or_die("loop", tmp / "root/loop");
    symlink_or_die("c2", tmp / "root/c1");
    symlink_or_die("/c3", tmp / "root/c2");
    symlink_or_die("real", tmp / "root/c3");
    root = open_dir(tmp / "root");
  }

  std::string read_in_root(std::string_view path) {
    UniqueFd fd = open_in_root(root.get(), path, O_RDONLY);
    return read_fd(fd.get(), std::string(path));
  }

  TempDir tmp;
  UniqueFd root;
};

TEST_F(RootFixture, AbsoluteSymlinkResolvesInsideRoot) {
  EXPECT_EQ(read_in_root("abs/passwd"), "inside passwd");
  EXPECT_EQ(read_in_root("/abs/passwd"), "inside passwd");
}

TEST_F(RootFixture, AbsoluteSymlinkToMissingTargetIsEnoentNotHostFile) {
  ASSERT_EQ(::unlink((tmp / "root/etc/passwd").c_str()), 0);
  ASSERT_TRUE(path_exists("/etc/passwd"));  // the host file the link would reach
  errno = 0;
  UniqueFd fd = try_open_in_root(root.get(), "abs/passwd", O_RDONLY);
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(errno, ENOENT);
  try {
    open_in_root(root.get(), "abs/passwd", O_RDONLY);
    FAIL() << "opened abs/passwd although root/etc/passwd is gone";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("abs/passwd"));
    EXPECT_THAT(e.what(), HasSubstr("no such file"));
  }
}

TEST_F(RootFixture, DotDotStopsAtRoot) {
  EXPECT_EQ(read_in_root("../../../../etc/passwd"), "inside passwd");
  EXPECT_EQ(read_in_root("real/../../../etc/./passwd"), "inside passwd");
  EXPECT_EQ(read_in_root("/../etc/passwd"), "inside passwd");
}

TEST_F(RootFixture, RelativeSymlinkClimbingOutStaysInside) {
  EXPECT_EQ(read_in_root("up/etc/passwd"), "inside passwd");
  UniqueFd fd = open_in_root(root.get(), "up", O_PATH | O_DIRECTORY);
  EXPECT_TRUE(same_file(fd.get(), tmp / "root"));
}

TEST_F(RootFixture, SymlinkChainIsFollowedInsideRoot) {
  EXPECT_EQ(read_in_root("c1/file"), "chained");
  UniqueFd fd = open_in_root(root.get(), "c1", O_PATH | O_DIRECTORY);
  EXPECT_TRUE(same_file(fd.get(), tmp / "root/real"));
}

TEST_F(RootFixture, SymlinkLoopFailsWithEloop) {
  errno = 0;
  UniqueFd fd = try_open_in_root(root.get(), "loop", O_RDONLY);
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(errno, ELOOP);
  EXPECT_THROW(open_in_root(root.get(), "loop/x", O_RDONLY), Error);
}

TEST_F(RootFixture, EmptyPathIsTheRootItself) {
  UniqueFd fd = open_in_root(root.get(), "", O_PATH | O_DIRECTORY);
  EXPECT_TRUE(same_file(fd.get(), tmp / "root"));
}

TEST_F(RootFixture, CreateFlagCreatesInsideRoot) {
  UniqueFd fd = open_in_root(root.get(), "abs/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_TRUE(fd.valid());
  EXPECT_TRUE(path_exists(tmp / "root/etc/new"));
  EXPECT_FALSE(path_exists("/etc/new"));
  struct stat st;
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(RootFixture, ReturnedDescriptorIsCloseOnExec) {
  UniqueFd fd = open_in_root(root.get(), "etc/passwd", O_RDONLY);
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
}

TEST(OpenInRoot, MagicLinksAreRefused) {
  UniqueFd host_root = open_dir("/");
  UniqueFd file(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file.valid());
  // /proc/self is an ordinary symlink and is followed ...
  EXPECT_TRUE(try_open_in_root(host_root.get(), "proc/self/status", O_RDONLY).valid());
  // ... but /proc/self/fd/N and /proc/self/exe are magic links.
  errno = 0;
  std::string magic = "proc/self/fd/" + std::to_string(file.get());
  EXPECT_FALSE(try_open_in_root(host_root.get(), magic, O_RDONLY).valid());
  EXPECT_EQ(errno, ELOOP);
  EXPECT_FALSE(try_open_in_root(host_root.get(), "proc/self/exe", O_RDONLY).valid());
  EXPECT_THROW(open_in_root(host_root.get(), magic, O_RDONLY), Error);
}

// ----------------------------------------------------------- mkdir_all_in_root

TEST_F(RootFixture, MkdirAllInRootThroughAbsoluteSymlinkCreatesInside) {
  TempDir outside;
  std::string target = outside / "made";  // absolute host path
  symlink_or_die(target, tmp / "root/esc");
  UniqueFd fd = mkdir_all_in_root(root.get(), "esc/sub/leaf");
  std::string inside = tmp / ("root" + target + "/sub/leaf");
  struct stat st;
  ASSERT_EQ(::stat(inside.c_str(), &st), 0) << inside;
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_TRUE(same_file(fd.get(), inside));
  EXPECT_FALSE(path_exists(target)) << "created outside the root";
  EXPECT_TRUE(list_dir(outside.path()).empty());
}

TEST_F(RootFixture, MkdirAllInRootThroughClimbingSymlinkCreatesInside) {
  TempDir outside;
  // From root/rel, enough ".." to reach "/" on the host, then the outside dir.
  symlink_or_die("../../../../../../../.." + outside.path() + "/made", tmp / "root/rel");
  UniqueFd fd = mkdir_all_in_root(root.get(), "rel/x");
  std::string inside = tmp / ("root" + outside.path() + "/made/x");
  EXPECT_TRUE(same_file(fd.get(), inside));
  EXPECT_FALSE(path_exists(outside / "made"));
}

TEST_F(RootFixture, MkdirAllInRootDotDotStaysInside) {
  UniqueFd fd = mkdir_all_in_root(root.get(), "a/../../../b/./c");
  EXPECT_TRUE(same_file(fd.get(), tmp / "root/b/c"));
  EXPECT_TRUE(path_exists(tmp / "root/a"));
  EXPECT_FALSE(path_exists(tmp / "b"));
}

TEST_F(RootFixture, MkdirAllInRootExistingAndModes) {
  UniqueFd a = mkdir_all_in_root(root.get(), "/x/y", 0700);
  struct stat st;
  ASSERT_EQ(::stat((tmp / "root/x/y").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // Second call finds what is there and follows the chain.
  UniqueFd b = mkdir_all_in_root(root.get(), "x/y");
  EXPECT_TRUE(same_file(b.get(), tmp / "root/x/y"));
  UniqueFd c = mkdir_all_in_root(root.get(), "c1");
  EXPECT_TRUE(same_file(c.get(), tmp / "root/real"));
  UniqueFd r = mkdir_all_in_root(root.get(), "/");
  EXPECT_TRUE(same_file(r.get(), tmp / "root"));
}

TEST_F(RootFixture, MkdirAllInRootLoopErrors) {
  try {
    mkdir_all_in_root(root.get(), "loop/x");
    FAIL() << "no error for a symlink loop";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("too many levels of symbolic links"));
  }
}

TEST_F(RootFixture, MkdirAllInRootThroughFileErrors) {
  EXPECT_THROW(mkdir_all_in_root(root.get(), "etc/passwd/sub"), Error);
}

TEST_F(RootFixture, CreateInRootMakesLeafFileInside) {
  TempDir outside;
  symlink_or_die(outside / "file", tmp / "root/dangling");
  UniqueFd fd = create_in_root(root.get(), "dangling", true);
  std::string inside = tmp / ("root" + outside.path() + "/file");
  struct stat st;
  ASSERT_EQ(::lstat(inside.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 0);
  EXPECT_TRUE(same_file(fd.get(), inside));
  EXPECT_FALSE(path_exists(outside / "file"));
}

TEST_F(RootFixture, CreateInRootKeepsExistingFile) {
  UniqueFd fd = create_in_root(root.get(), "abs/passwd", true);
  EXPECT_TRUE(same_file(fd.get(), tmp / "root/etc/passwd"));
  EXPECT_EQ(read_file(tmp / "root/etc/passwd"), "inside passwd");
}

// ------------------------------------------------------------ plain file helpers

TEST(Files, WriteAndReadBack) {
  TempDir tmp;
  write_file(tmp / "f", "first version, long");
  write_file(tmp / "f", "short");  // truncates
  EXPECT_EQ(read_file(tmp / "f"), "short");
  std::string out = "untouched";
  EXPECT_TRUE(read_file_if_exists(tmp / "f", &out));
  EXPECT_EQ(out, "short");
}

TEST(Files, ReadMissingNamesPath) {
  TempDir tmp;
  std::string missing = tmp / "missing";
  try {
    read_file(missing);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(missing));
    EXPECT_THAT(e.what(), HasSubstr("no such file"));
  }
  std::string out = "untouched";
  EXPECT_FALSE(read_file_if_exists(missing, &out));
  EXPECT_EQ(out, "untouched");
}

TEST(Files, ReadOtherErrorsNamePath) {
  TempDir tmp;
  mkdir_all(tmp / "dir");
  // Reading a directory fails in read(2) with EISDIR.
  try {
    read_file(tmp / "dir");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(tmp / "dir"));
  }
  write_file(tmp / "file", "x");
  std::string out;
  try {
    read_file_if_exists(tmp / "file/below", &out);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(tmp / "file/below"));
    EXPECT_THAT(e.what(), HasSubstr("not a directory"));
  }
}

TEST(Files, ReadFdReadsToEof) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  UniqueFd r(p[0]);
  std::string big(200000, 'z');
  std::thread writer([&] {
    UniqueFd w(p[1]);
    size_t off = 0;
    while (off < big.size()) {
      ssize_t n = ::write(w.get(), big.data() + off, big.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  });
  std::string got = read_fd(r.get(), "pipe");
  writer.join();
  EXPECT_EQ(got.size(), big.size());
  EXPECT_EQ(got, big);
}

TEST(Files, WriteFileAtomicReplacesAndLeavesNoTemp) {
  TempDir tmp;
  std::string f = tmp / "state.json";
  write_file(f, "old content that is longer");
  UniqueFd old(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
  write_file_atomic(f, "new", 0600);
  EXPECT_EQ(read_file(f), "new");
  // Replaced by rename: the old inode still has the old content.
  EXPECT_EQ(read_fd(old.get(), "old"), "old content that is longer");
  EXPECT_EQ(list_dir(tmp.path()), std::vector<std::string>{"state.json"});
  struct stat st;
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Files, WriteFileAtomicFailedRenameLeavesNoTemp) {
  TempDir tmp;
  mkdir_all(tmp / "target/nonempty");  // rename(file, non-empty dir) fails
  try {
    write_file_atomic(tmp / "target", "data");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("rename"));
    EXPECT_THAT(e.what(), HasSubstr(tmp / "target"));
  }
  EXPECT_EQ(list_dir(tmp.path()), std::vector<std::string>{"target"});
}

TEST(Files, WriteFileAtomicFailedWriteLeavesNoTempAndKeepsOld) {
  TempDir tmp;
  std::string f = tmp / "f";
  write_file(f, "old");
  // In a child, RLIMIT_FSIZE makes the write fail with EFBIG.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {4, 4};
    ::setrlimit(RLIMIT_FSIZE, &rl);
    try {
      write_file_atomic(f, "much more than four bytes");
      _exit(1);  // should have failed
    } catch (const Error&) {
      _exit(0);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "write beyond RLIMIT_FSIZE did not fail";
  EXPECT_EQ(read_file(f), "old");
  EXPECT_EQ(list_dir(tmp.path()), std::vector<std::string>{"f"});
}

TEST(Files, WriteFileAtomicConcurrentWritersNeverMix) {
  TempDir tmp;
  std::string f = tmp / "f";
  const std::string a(5000, 'a'), b(3, 'b');
  std::atomic<int> errors{0};
  auto writer = [&](const std::string& content) {
    for (int i = 0; i < 40; ++i) {
      try {
        write_file_atomic(f, content);
      } catch (const Error&) {
        ++errors;
      }
    }
  };
  std::thread t1(writer, std::cref(a)), t2(writer, std::cref(b));
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  std::string got = read_file(f);
  EXPECT_TRUE(got == a || got == b) << "mixed content of size " << got.size();
  EXPECT_EQ(list_dir(tmp.path()), std::vector<std::string>{"f"});
}

TEST(Files, MkdirAllCreatesParentsAndToleratesExisting) {
  TempDir tmp;
  mkdir_all(tmp / "a/b/c");
  mkdir_all(tmp / "a/b/c");
  mkdir_all(tmp / "a//b/./d/");
  EXPECT_TRUE(path_exists(tmp / "a/b/c"));
  EXPECT_TRUE(path_exists(tmp / "a/b/d"));
  write_file(tmp / "file", "");
  try {
    mkdir_all(tmp / "file/sub");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(tmp / "file/sub"));
  }
}

TEST(Files, PathExistsDoesNotFollowSymlinks) {
  TempDir tmp;
  EXPECT_FALSE(path_exists(tmp / "nothing"));
  symlink_or_die(tmp / "nothing", tmp / "dangling");
  EXPECT_TRUE(path_exists(tmp / "dangling"));
}

TEST(Files, RemoveAllRemovesTreeButNotSymlinkTargets) {
  TempDir tmp, outside;
  write_file(outside / "keep", "precious");
  mkdir_all(tmp / "t/a/b/c");
  write_file(tmp / "t/a/file", "x");
  write_file(tmp / "t/a/b/c/deep", "y");
  symlink_or_die(outside.path(), tmp / "t/a/link-to-outside");
  symlink_or_die(outside.path(), tmp / "t/top-link");
  remove_all(tmp / "t");
  EXPECT_FALSE(path_exists(tmp / "t"));
  EXPECT_EQ(read_file(outside / "keep"), "precious");
  // A symlink given directly is removed, not its target.
  symlink_or_die(outside.path(), tmp / "l");
  remove_all(tmp / "l");
  EXPECT_FALSE(path_exists(tmp / "l"));
  EXPECT_TRUE(path_exists(outside / "keep"));
  // Files, and missing paths.
  write_file(tmp / "plain", "");
  remove_all(tmp / "plain");
  EXPECT_FALSE(path_exists(tmp / "plain"));
  EXPECT_NO_THROW(remove_all(tmp / "never-existed"));
}

TEST(Files, FdPathNamesTheDescriptor) {
  TempDir tmp;
  write_file(tmp / "f", "");
  UniqueFd fd(::open((tmp / "f").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  std::string p = fd_path(fd.get());
  EXPECT_EQ(p, "/proc/self/fd/" + std::to_string(fd.get()));
  char buf[4096];
  ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), tmp / "f");
}

// ------------------------------------------------------------------ path text

struct CleanCase {
  const char* in;
  const char* out;
};

class CleanPathTest : public ::testing::TestWithParam<CleanCase> {};

TEST_P(CleanPathTest, Cleans) { EXPECT_EQ(clean_path(GetParam().in), GetParam().out) << GetParam().in; }

INSTANTIATE_TEST_SUITE_P(Table, CleanPathTest,
                         ::testing::Values(CleanCase{"", "."}, CleanCase{".", "."}, CleanCase{"/", "/"},
                                           CleanCase{"//", "/"}, CleanCase{"/a/b/", "/a/b"},
                                           CleanCase{"a//b", "a/b"}, CleanCase{"/a/./b/.", "/a/b"},
                                           CleanCase{"/a/b/../c", "/a/c"}, CleanCase{"/..", "/"},
                                           CleanCase{"/../../a", "/a"}, CleanCase{"..", ".."},
                                           CleanCase{"../a/..", ".."}, CleanCase{"a/../..", ".."},
                                           CleanCase{"a/..", "."}, CleanCase{"../../x", "../../x"},
                                           CleanCase{"a/b/../../..", ".."}, CleanCase{"/dev//pts/", "/dev/pts"},
                                           CleanCase{"./a", "a"}, CleanCase{"...", "..."}));

TEST(PathJoin, Table) {
  EXPECT_EQ(path_join("/a", "b"), "/a/b");
  EXPECT_EQ(path_join("/a/", "b"), "/a/b");
  EXPECT_EQ(path_join("/a", "/b"), "/a/b");
  EXPECT_EQ(path_join("/a/", "//b/c"), "/a/b/c");
  EXPECT_EQ(path_join("", "/b"), "/b");
}

}  // namespace
}  // namespace berth
