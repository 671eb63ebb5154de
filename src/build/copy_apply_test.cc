#include "build/copy_apply.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"
#include "image/test_util.h"

namespace berth::build {
namespace {

using berth::test::count_entries;
using berth::test::error_of;
using berth::test::TempDir;
using image::testing::build_tar;
using image::testing::Compression;
using image::testing::TarEntry;

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) fail_errno("lstat {}", path);
  return st;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string link_of(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) fail_errno("readlink {}", path);
  return std::string(buf, static_cast<size_t>(n));
}

void put(const std::string& path, const std::string& data, mode_t mode = 0644) {
  auto slash = path.rfind('/');
  mkdir_all(path.substr(0, slash));
  write_file(path, data, mode);
  ::chmod(path.c_str(), mode);  // umask-proof
}

void set_mtime(const std::string& path, time_t when) {
  struct timeval tv[2] = {{when, 0}, {when, 0}};
  if (::lutimes(path.c_str(), tv) != 0) fail_errno("utimes {}", path);
}

// A build context and an image root, with plan_copy + apply_copy_plan.
class CopyApply : public ::testing::Test {
 protected:
  std::string ctx(const std::string& rel) const { return ctx_ / rel; }
  std::string img(const std::string& rel) const { return root_ / rel; }

  void copy(std::vector<std::string> sources, std::string dest, const ApplyOptions& opts = {},
            std::string instruction = "COPY") {
    CopyRequest req;
    req.instruction = std::move(instruction);
    req.sources = std::move(sources);
    req.dest = std::move(dest);
    apply_copy_plan(root_.path(), plan_copy(ctx_.path(), req), opts);
  }
  void add(std::vector<std::string> sources, std::string dest, ApplyOptions opts = {}) {
    opts.extract_archives = true;
    copy(std::move(sources), std::move(dest), opts, "ADD");
  }

  TempDir ctx_, root_;
};

TEST_F(CopyApply, DirectoryTreeWithModesOwnersAndTimes) {
  put(ctx("src/a.txt"), "alpha", 0640);
  put(ctx("src/bin/tool"), "#!/bin/sh\n", 04755);
  mkdir_all(ctx("src/empty"));
  ::chmod(ctx("src/empty").c_str(), 0711);
  ASSERT_EQ(::chown(ctx("src/a.txt").c_str(), 1234, 5678), 0);
  set_mtime(ctx("src/a.txt"), 1500000000);
  set_mtime(ctx("src/bin/tool"), 1500000100);
  set_mtime(ctx("src/bin"), 1500000200);

  copy({"src"}, "/opt/app");

  EXPECT_EQ(read_file(img("opt/app/a.txt")), "alpha");
  struct stat a = lstat_of(img("opt/app/a.txt"));
  EXPECT_EQ(a.st_mode & 07777, 0640u);
  EXPECT_EQ(a.st_uid, 0u);  // docker: root, not the context's owner
  EXPECT_EQ(a.st_gid, 0u);
  EXPECT_EQ(a.st_mtim.tv_sec, 1500000000);
  struct stat tool = lstat_of(img("opt/app/bin/tool"));
  EXPECT_EQ(tool.st_mode & 07777, 04755u);
  EXPECT_EQ(tool.st_mtim.tv_sec, 1500000100);
  // The directory's time is set after its contents were written.
  EXPECT_EQ(lstat_of(img("opt/app/bin")).st_mtim.tv_sec, 1500000200);
  EXPECT_EQ(lstat_of(img("opt/app/empty")).st_mode & 07777, 0711u);
  // Missing parents: 0755 root.
  EXPECT_EQ(lstat_of(img("opt")).st_mode & 07777, 0755u);
}

TEST_F(CopyApply, NameIfDirFollowsWhatTheImageHas) {
  put(ctx("f"), "data");
  mkdir_all(img("existing"));
  copy({"f"}, "/existing");
  copy({"f"}, "/newname");
  copy({"f"}, "/slash/");
  EXPECT_EQ(read_file(img("existing/f")), "data");
  EXPECT_TRUE(S_ISREG(lstat_of(img("newname")).st_mode));
  EXPECT_EQ(read_file(img("slash/f")), "data");
  // A symlink to a directory counts as a directory (resolved inside root).
  ASSERT_EQ(::symlink("/existing", img("dirlink").c_str()), 0);
  put(ctx("g"), "gee");
  copy({"g"}, "/dirlink");
  EXPECT_EQ(read_file(img("existing/g")), "gee");
  EXPECT_EQ(link_of(img("dirlink")), "/existing");
}

TEST_F(CopyApply, ChownAndChmod) {
  put(ctx("d/x"), "x", 0600);
  mkdir_all(img("keep"));
  ::chmod(img("keep").c_str(), 0700);
  ApplyOptions opts;
  opts.chown = std::make_pair(uid_t{1000}, gid_t{1001});
  opts.chmod = 0750;
  copy({"d"}, "/keep", opts);
  copy({"d"}, "/new/sub", opts);
  copy({"d/x"}, "/file", opts);

  struct stat x = lstat_of(img("keep/x"));
  EXPECT_EQ(x.st_uid, 1000u);
  EXPECT_EQ(x.st_gid, 1001u);
  EXPECT_EQ(x.st_mode & 07777, 0750u);
  // An existing destination directory keeps its metadata.
  struct stat keep = lstat_of(img("keep"));
  EXPECT_EQ(keep.st_mode & 07777, 0700u);
  EXPECT_EQ(keep.st_uid, 0u);
  // Created parents: 0755, the chown owner.
  for (const char* p : {"new", "new/sub"}) {
    struct stat st = lstat_of(img(p));
    EXPECT_EQ(st.st_mode & 07777, 0755u) << p;
    EXPECT_EQ(st.st_uid, 1000u) << p;
    EXPECT_EQ(st.st_gid, 1001u) << p;
  }
  EXPECT_EQ(lstat_of(img("file")).st_uid, 1000u);
  EXPECT_EQ(lstat_of(img("file")).st_mode & 07777, 0750u);
}

TEST_F(CopyApply, SubdirectoriesGetModeAndOwner) {
  mkdir_all(ctx("d/sub"));
  ::chmod(ctx("d/sub").c_str(), 0701);
  put(ctx("d/sub/f"), "f");
  mkdir_all(img("dst/sub"));
  ::chmod(img("dst/sub").c_str(), 0777);
  ASSERT_EQ(::chown(img("dst/sub").c_str(), 7, 7), 0);
  copy({"d"}, "/dst");
  // A copied directory that exists takes the source's metadata.
  struct stat st = lstat_of(img("dst/sub"));
  EXPECT_EQ(st.st_mode & 07777, 0701u);
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(CopyApply, SymlinksInTheImageNeverLeadOutside) {
  TempDir outside;
  put(ctx("f"), "payload");
  put(ctx("tree/inner"), "inner");
  ASSERT_EQ(::symlink(outside.path().c_str(), img("evil").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../../..", img("up").c_str()), 0);
  mkdir_all(img("d"));
  ASSERT_EQ(::symlink("/etc", img("d/etc").c_str()), 0);

  copy({"f"}, "/evil/x");
  copy({"f"}, "/up/y");
  copy({"tree"}, "/evil/tree/");
  copy({"f"}, "/d/etc/passwd");
  // A dangling link: its target is created inside root.
  ASSERT_EQ(::symlink((outside.path() + "/dangling").c_str(), img("dang").c_str()), 0);
  copy({"f"}, "/dang/z");

  EXPECT_EQ(count_entries(outside.path()), 0);
  EXPECT_EQ(read_file(img(outside.path().substr(1) + "/x")), "payload");
  EXPECT_EQ(read_file(img(outside.path().substr(1) + "/tree/inner")), "inner");
  EXPECT_EQ(read_file(img(outside.path().substr(1) + "/dangling/z")), "payload");
  EXPECT_EQ(read_file(img("y")), "payload");
  EXPECT_EQ(read_file(img("etc/passwd")), "payload");
  EXPECT_NE(read_file("/etc/passwd"), "payload");
}

TEST_F(CopyApply, SymlinkInsideCopiedTreeIsNotFollowed) {
  // The image has /dst/sub -> outside; the tree has a directory "sub": a
  // directory cannot replace the link (BuildKit: cannot copy to non-directory).
  TempDir outside;
  put(ctx("t/sub/f"), "f");
  mkdir_all(img("dst"));
  ASSERT_EQ(::symlink(outside.path().c_str(), img("dst/sub").c_str()), 0);
  std::string err = error_of([&] { copy({"t"}, "/dst"); });
  EXPECT_NE(err.find("cannot copy to non-directory: /dst/sub"), std::string::npos) << err;
  EXPECT_EQ(count_entries(outside.path()), 0);
  // A file replaces a symlink at its destination instead of writing through it.
  put(ctx("u/link"), "not through");
  ASSERT_EQ(::symlink(outside.path().c_str(), img("dst/link").c_str()), 0);
  copy({"u"}, "/dst");
  EXPECT_TRUE(S_ISREG(lstat_of(img("dst/link")).st_mode));
  EXPECT_EQ(count_entries(outside.path()), 0);
}

TEST_F(CopyApply, SymlinksHardlinksAndFifos) {
  put(ctx("s/a"), "shared");
  ASSERT_EQ(::link(ctx("s/a").c_str(), ctx("s/b").c_str()), 0);
  ASSERT_EQ(::symlink("../../etc/passwd", ctx("s/rel").c_str()), 0);
  ASSERT_EQ(::symlink("/abs/target", ctx("s/abs").c_str()), 0);
  ASSERT_EQ(::mkfifo(ctx("s/fifo").c_str(), 0600), 0);
  ASSERT_EQ(::chmod(ctx("s/fifo").c_str(), 0624), 0);  // umask-proof
  ASSERT_EQ(::mknod(ctx("s/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  set_mtime(ctx("s/rel"), 1400000000);

  copy({"s"}, "/out");

  struct stat a = lstat_of(img("out/a")), b = lstat_of(img("out/b"));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_EQ(link_of(img("out/rel")), "../../etc/passwd");
  EXPECT_EQ(link_of(img("out/abs")), "/abs/target");
  EXPECT_EQ(lstat_of(img("out/rel")).st_mtim.tv_sec, 1400000000);
  struct stat fifo = lstat_of(img("out/fifo"));
  EXPECT_TRUE(S_ISFIFO(fifo.st_mode));
  EXPECT_EQ(fifo.st_mode & 07777, 0624u);
  struct stat null = lstat_of(img("out/null"));
  EXPECT_TRUE(S_ISCHR(null.st_mode));
  EXPECT_EQ(null.st_rdev, makedev(1, 3));
}

TEST_F(CopyApply, ReplacesFilesButNotDirectories) {
  put(ctx("f"), "new");
  put(img("target"), "old");
  ASSERT_EQ(::symlink("elsewhere", img("lnk").c_str()), 0);
  copy({"f"}, "/target");
  EXPECT_EQ(read_file(img("target")), "new");
  copy({"f"}, "/lnk");  // a dangling link is replaced, not written through
  EXPECT_EQ(read_file(img("lnk")), "new");
  EXPECT_TRUE(S_ISREG(lstat_of(img("lnk")).st_mode));
  EXPECT_FALSE(exists(img("elsewhere")));

  put(ctx("t/dir"), "file where a directory is");
  mkdir_all(img("dst/dir"));
  std::string err = error_of([&] { copy({"t"}, "/dst"); });
  EXPECT_EQ(err, "copy to /dst/dir: cannot replace a directory with a file");
}

TEST_F(CopyApply, FileInTheWayOfAParent) {
  put(ctx("f"), "x");
  put(img("plain"), "a file");
  std::string err = error_of([&] { copy({"f"}, "/plain/sub/f"); });
  EXPECT_EQ(err, "copy to /plain/sub/f: mkdir /plain: not a directory");
  EXPECT_EQ(read_file(img("plain")), "a file");
}

TEST_F(CopyApply, LargeFileContent) {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 12));
  put(ctx("big"), big);
  copy({"big"}, "/big");
  EXPECT_EQ(read_file(img("big")), big);
}

TEST_F(CopyApply, AddUnpacksArchives) {
  std::vector<TarEntry> entries = {
      {.name = "pkg/", .type = 'd', .mode = 0750, .uid = 42, .gid = 43},
      {.name = "pkg/file", .data = "in tar", .mode = 0604, .uid = 42, .gid = 43, .mtime = 1234567890},
      {.name = "pkg/link", .type = 'l', .link = "/etc"},
  };
  put(ctx("a.tar"), build_tar(entries));
  put(ctx("a.tar.gz"), build_tar(entries, Compression::gzip));
  put(ctx("a.tar.zst"), build_tar(entries, Compression::zstd));
  put(ctx("notes.txt"), "plain text");

  add({"a.tar"}, "/plain/");
  add({"a.tar.gz"}, "/gz");  // no slash: still a directory
  add({"a.tar.zst"}, "/zst/");
  add({"notes.txt"}, "/notes/");

  for (const char* d : {"plain", "gz", "zst"}) {
    std::string dir = d;
    EXPECT_EQ(read_file(img(dir + "/pkg/file")), "in tar") << d;
    struct stat st = lstat_of(img(dir + "/pkg/file"));
    EXPECT_EQ(st.st_uid, 42u) << d;  // tar owners kept
    EXPECT_EQ(st.st_mode & 07777, 0604u) << d;
    EXPECT_EQ(st.st_mtim.tv_sec, 1234567890) << d;
    EXPECT_EQ(link_of(img(dir + "/pkg/link")), "/etc") << d;
    EXPECT_FALSE(exists(img(dir + "/a.tar"))) << d;
  }
  EXPECT_EQ(read_file(img("notes/notes.txt")), "plain text");
}

TEST_F(CopyApply, AddUnpacksInsideRootThroughImageSymlinks) {
  TempDir outside;
  ASSERT_EQ(::symlink(outside.path().c_str(), img("evil").c_str()), 0);
  put(ctx("a.tar"), build_tar({{.name = "f", .data = "x"}, {.name = "lnk", .type = 'l', .link = "/"}}));
  add({"a.tar"}, "/evil/");
  EXPECT_EQ(count_entries(outside.path()), 0);
  EXPECT_EQ(read_file(img(outside.path().substr(1) + "/f")), "x");
}

TEST_F(CopyApply, AddChownOverridesTarOwners) {
  put(ctx("a.tar"), build_tar({{.name = "f", .data = "x", .uid = 42, .gid = 43}}));
  ApplyOptions opts;
  opts.chown = std::make_pair(uid_t{7}, gid_t{8});
  add({"a.tar"}, "/dst", opts);
  struct stat st = lstat_of(img("dst/f"));
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(st.st_gid, 8u);
  EXPECT_EQ(lstat_of(img("dst")).st_uid, 7u);
}

TEST_F(CopyApply, AddBzip2AndXz) {
  std::string tar = build_tar({{.name = "f", .data = "compressed"}});
  auto compress = [&](int filter) {
    struct archive* a = archive_write_new();
    archive_write_set_format_raw(a);
    archive_write_add_filter(a, filter);
    std::string out(1 << 20, '\0');
    size_t used = 0;
    EXPECT_EQ(archive_write_open_memory(a, out.data(), out.size(), &used), ARCHIVE_OK);
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, static_cast<la_int64_t>(tar.size()));
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    archive_write_data(a, tar.data(), tar.size());
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    out.resize(used);
    return out;
  };
  put(ctx("a.tar.bz2"), compress(ARCHIVE_FILTER_BZIP2));
  put(ctx("a.tar.xz"), compress(ARCHIVE_FILTER_XZ));
  ASSERT_TRUE(is_tar_archive(ctx("a.tar.bz2")));
  ASSERT_TRUE(is_tar_archive(ctx("a.tar.xz")));
  add({"a.tar.bz2"}, "/bz");
  add({"a.tar.xz"}, "/xz");
  EXPECT_EQ(read_file(img("bz/f")), "compressed");
  EXPECT_EQ(read_file(img("xz/f")), "compressed");
}

TEST_F(CopyApply, AddDoesNotUnpackArchivesInsideDirectories) {
  put(ctx("dir/inner.tar"), build_tar({{.name = "f", .data = "x"}}));
  put(ctx("top.tar"), build_tar({{.name = "g", .data = "y"}}));
  add({"dir", "top.tar"}, "/dst/");
  EXPECT_TRUE(S_ISREG(lstat_of(img("dst/inner.tar")).st_mode));
  EXPECT_EQ(read_file(img("dst/g")), "y");
  EXPECT_FALSE(exists(img("dst/top.tar")));
  // A COPY never unpacks.
  copy({"top.tar"}, "/copied/");
  EXPECT_TRUE(S_ISREG(lstat_of(img("copied/top.tar")).st_mode));
}

TEST_F(CopyApply, ArchiveDetection) {
  put(ctx("empty.tar"), std::string(1024, '\0'));  // end marker only: moby copies it
  put(ctx("short"), "BZh not really");
  put(ctx("gz-not-tar"), build_tar({{.name = "f", .data = "x"}}, Compression::gzip).substr(0, 10));
  put(ctx("ok.tar"), build_tar({{.name = "f", .data = "x"}}));
  EXPECT_FALSE(is_tar_archive(ctx("empty.tar")));
  EXPECT_FALSE(is_tar_archive(ctx("short")));
  EXPECT_FALSE(is_tar_archive(ctx("gz-not-tar")));
  EXPECT_TRUE(is_tar_archive(ctx("ok.tar")));
  add({"empty.tar"}, "/e/");
  EXPECT_TRUE(S_ISREG(lstat_of(img("e/empty.tar")).st_mode));
}


// ------------------------------------------------------------ the fast path

// An overlay like the builder's: lower holds existing/{keep,sub/} and
// gone/old, upper a whiteout hiding gone; everything under one TempDir.
class OverlayRoot {
 public:
  OverlayRoot() {
    put(base_ / "lower/existing/keep", "kept");
    mkdir_all(base_ / "lower/existing/sub");
    put(base_ / "lower/gone/old", "hidden");
    for (const char* d : {"upper", "work", "merged"}) mkdir_all(base_ / d);
    if (::mknod((upper() + "/gone").c_str(), S_IFCHR | 0600, makedev(0, 0)) != 0) return;
    std::string data = "lowerdir=" + (base_ / "lower") + ",upperdir=" + upper() + ",workdir=" + (base_ / "work");
    mounted_ = ::mount("overlay", merged().c_str(), "overlay", 0, data.c_str()) == 0;
  }
  ~OverlayRoot() { unmount(); }
  bool mounted() const { return mounted_; }
  void unmount() {
    if (mounted_) ::umount2(merged().c_str(), MNT_DETACH);
    mounted_ = false;
  }
  std::string upper() const { return base_ / "upper"; }
  std::string merged() const { return base_ / "merged"; }

 private:
  TempDir base_;
  bool mounted_ = false;
};

// Everything that ends up in a layer, per path below dir: type, mode, owner,
// content, link target, device, hard-link siblings, overlay xattrs and
// times (times of directories the applier made up itself vary: "recent").
std::map<std::string, std::string> layer_of(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::map<ino_t, std::string> first_path;
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    std::string path = rel.empty() ? dir : dir + "/" + rel;
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (!d) fail_errno("opendir {}", path);
    while (struct dirent* e = ::readdir(d))
      if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") names.push_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      std::string r = rel.empty() ? n : rel + "/" + n, p = dir + "/" + r;
      struct stat st = lstat_of(p);
      std::string desc = fmt::format("{:o} {}:{}", st.st_mode, st.st_uid, st.st_gid);
      if (S_ISREG(st.st_mode)) {
        desc += " data=" + read_file(p);
        auto [pos, fresh] = first_path.emplace(st.st_ino, r);
        if (!fresh) desc += " link-of=" + pos->second;
      }
      if (S_ISLNK(st.st_mode)) desc += " -> " + link_of(p);
      if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) desc += fmt::format(" rdev={}", st.st_rdev);
      if (!S_ISLNK(st.st_mode)) {
        char names_buf[4096];
        ssize_t len = ::llistxattr(p.c_str(), names_buf, sizeof names_buf);
        std::vector<std::string> xs;
        for (ssize_t i = 0; i < len; i += static_cast<ssize_t>(std::strlen(names_buf + i)) + 1) {
          std::string x = names_buf + i;
          if (x == "trusted.overlay.opaque") {
            char v[16];
            ssize_t m = ::lgetxattr(p.c_str(), x.c_str(), v, sizeof v);
            x += "=" + std::string(v, static_cast<size_t>(std::max<ssize_t>(m, 0)));
          }
          xs.push_back(x);
        }
        std::sort(xs.begin(), xs.end());
        for (const auto& x : xs) desc += " " + x;
      }
      desc += st.st_mtim.tv_sec < 1600000000 ? fmt::format(" t={}", st.st_mtim.tv_sec) : " t=recent";
      out[r] = desc;
      if (S_ISDIR(st.st_mode)) walk(r);
    }
  };
  walk("");
  return out;
}

class CopyApplyOverlay : public CopyApply {
 protected:
  void SetUp() override {
    put(ctx("src/a.txt"), "alpha", 0640);
    put(ctx("src/bin/tool"), "#!/bin/sh\n", 04755);
    ASSERT_EQ(::link(ctx("src/a.txt").c_str(), ctx("src/bin/same-as-a").c_str()), 0);
    put(ctx("src/h1"), "shared");
    ASSERT_EQ(::link(ctx("src/h1").c_str(), ctx("src/h2").c_str()), 0);
    ASSERT_EQ(::symlink("../a.txt", ctx("src/bin/lnk").c_str()), 0);
    ASSERT_EQ(::mkfifo(ctx("src/fifo").c_str(), 0600), 0);
    mkdir_all(ctx("src/empty"));
    ::chmod(ctx("src/empty").c_str(), 0711);
    set_mtime(ctx("src/a.txt"), 1500000000);
    set_mtime(ctx("src/h1"), 1500000001);
    set_mtime(ctx("src/bin/tool"), 1500000100);
    set_mtime(ctx("src/bin/lnk"), 1500000150);
    set_mtime(ctx("src/fifo"), 1500000160);
    set_mtime(ctx("src/bin"), 1500000200);
    set_mtime(ctx("src/empty"), 1500000300);
    set_mtime(ctx("src"), 1500000400);
    put(ctx("one"), "single", 0600);
    set_mtime(ctx("one"), 1500000500);
    put(ctx("a.tar"), build_tar({{.name = "pkg/f", .data = "in tar", .mode = 0604, .mtime = 1234567890}}));
  }

  // The copies both tests make; returns the entries written into upper.
  size_t copy_all(const OverlayRoot& ov, bool fast) {
    ApplyOptions opts;
    if (fast) opts.upper = ov.upper();
    ApplyOptions owned = opts;
    owned.chown = std::make_pair(uid_t{1000}, gid_t{1001});
    auto run = [&](std::vector<std::string> sources, std::string dest, const ApplyOptions& o,
                   std::string instruction = "COPY") {
      CopyRequest req{std::move(instruction), std::move(sources), std::move(dest), "/"};
      return apply_copy_plan(ov.merged(), plan_copy(ctx_.path(), req), o);
    };
    size_t n = 0;
    n += run({"src"}, "/new/app", owned);       // new parents, all of it new
    n += run({"src"}, "/gone", opts);           // where a whiteout hid a lower directory
    n += run({"src"}, "/existing", opts);       // a lower directory: a.txt through the overlay, bin/ new
    n += run({"one"}, "/existing/sub/", opts);  // into a lower directory's lower subdirectory
    n += run({"one"}, "/fresh/deeper/", opts);
    ApplyOptions add = opts;
    add.extract_archives = true;
    n += run({"a.tar", "one"}, "/unpacked/", add, "ADD");
    return n;
  }
};

TEST_F(CopyApplyOverlay, NewDirectoriesAreFilledInUpper) {
  OverlayRoot ov;
  if (!ov.mounted()) GTEST_SKIP() << "cannot mount overlay here";
  EXPECT_GT(copy_all(ov, true), 20u);
  // The merged view is what it would be without the fast path.
  EXPECT_EQ(read_file(ov.merged() + "/existing/keep"), "kept");
  EXPECT_EQ(read_file(ov.merged() + "/new/app/bin/tool"), "#!/bin/sh\n");
  EXPECT_FALSE(exists(ov.merged() + "/gone/old"));
  ov.unmount();

  std::map<std::string, std::string> layer = layer_of(ov.upper());
  std::vector<std::string> paths;
  for (const auto& [p, desc] : layer) paths.push_back(p);
  std::vector<std::string> tree = {"a.txt", "bin", "bin/lnk", "bin/same-as-a", "bin/tool", "empty", "fifo", "h1", "h2"};
  std::vector<std::string> want;
  for (const char* top : {"existing", "gone", "new/app"})
    for (const auto& t : tree) want.push_back(std::string(top) + "/" + t);
  for (const char* p : {"existing", "existing/sub", "existing/sub/one", "fresh", "fresh/deeper", "fresh/deeper/one",
                        "gone", "new", "new/app", "unpacked", "unpacked/one", "unpacked/pkg", "unpacked/pkg/f"})
    want.push_back(p);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(paths, want);  // existing/keep was not copied up, gone/old stays hidden

  // Modes, owners, content, times (directories' set after their contents).
  EXPECT_EQ(layer["new/app/a.txt"], "100640 1000:1001 data=alpha t=1500000000");
  EXPECT_EQ(layer["new/app/bin/same-as-a"], "100640 1000:1001 data=alpha link-of=new/app/a.txt t=1500000000");
  EXPECT_EQ(layer["new/app/bin/tool"], "104755 1000:1001 data=#!/bin/sh\n t=1500000100");
  EXPECT_EQ(layer["new/app/bin/lnk"], "120777 1000:1001 -> ../a.txt t=1500000150");
  EXPECT_EQ(layer["new/app/fifo"], "10600 1000:1001 t=1500000160");
  EXPECT_EQ(layer["new/app/h2"], "100644 1000:1001 data=shared link-of=new/app/h1 t=1500000001");
  EXPECT_EQ(layer["new/app/bin"], "40755 1000:1001 t=1500000200");
  EXPECT_EQ(layer["new/app/empty"], "40711 1000:1001 t=1500000300");
  EXPECT_EQ(layer["new/app"], "40755 1000:1001 t=recent");  // ensure_only: made up, no source times
  EXPECT_EQ(layer["new"], "40755 1000:1001 t=recent");
  // The whiteout's replacement is opaque: lower's gone/old stays hidden.
  EXPECT_NE(layer["gone"].find("trusted.overlay.opaque=y"), std::string::npos) << layer["gone"];
  EXPECT_EQ(layer["gone/bin/tool"], "104755 0:0 data=#!/bin/sh\n t=1500000100");
  // Through the overlay into lower directories (copied up), and hard links
  // between an entry there and one in a new directory.
  EXPECT_EQ(layer["existing/a.txt"], "100640 0:0 data=alpha t=1500000000");
  EXPECT_EQ(layer["existing/bin/same-as-a"], "100640 0:0 data=alpha link-of=existing/a.txt t=1500000000");
  EXPECT_EQ(layer["existing/sub/one"], "100600 0:0 data=single t=1500000500");
  EXPECT_EQ(layer["unpacked/pkg/f"], "100604 0:0 data=in tar t=1234567890");
  EXPECT_EQ(layer["unpacked/one"], "100600 0:0 data=single t=1500000500");
}

TEST_F(CopyApplyOverlay, SameLayerWithAndWithoutUpper) {
  OverlayRoot slow, fast;
  if (!slow.mounted() || !fast.mounted()) GTEST_SKIP() << "cannot mount overlay here";
  EXPECT_EQ(copy_all(slow, false), 0u);
  EXPECT_GT(copy_all(fast, true), 20u);
  slow.unmount();
  fast.unmount();
  auto a = layer_of(slow.upper()), b = layer_of(fast.upper());
  EXPECT_EQ(a.size(), b.size());
  for (const auto& [p, desc] : a) EXPECT_EQ(b[p], desc) << p;
}

TEST_F(CopyApplyOverlay, UpperThatDoesNotMatchIsNotUsed) {
  // An upper dir that is not the overlay's: nothing below it matches the
  // directories made through root, so everything goes through root.
  TempDir other;
  ApplyOptions opts;
  opts.upper = other.path();
  mkdir_all(other / "made");
  CopyRequest req{"COPY", {"src"}, "/made", "/"};
  EXPECT_EQ(apply_copy_plan(root_.path(), plan_copy(ctx_.path(), req), opts), 0u);
  EXPECT_EQ(read_file(img("made/a.txt")), "alpha");
  EXPECT_EQ(count_entries(other / "made"), 0);
}

}  // namespace
}  // namespace berth::build
