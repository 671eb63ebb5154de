// Layer unpack/pack tests. Every tar is built here with libarchive's writer;
// escape tests keep a sentinel file outside the root and assert it is untouched.
#include "image/layer.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>

#include "base/error.h"
#include "base/fs.h"
#include "image/test_util.h"

namespace berth::image {
namespace {

using testing::build_tar;
using testing::Compression;
using testing::TarEntry;
using testing::TempDir;

// Unpacks bytes (via a file, so the fd reads to EOF) into dest.
LayerDigests unpack_bytes(const std::string& bytes, const std::string& dest, UnpackOptions opts = {}) {
  TempDir t;
  write_file(t / "layer", bytes);
  UniqueFd fd(::open((t / "layer").c_str(), O_RDONLY));
  mkdir_all(dest);
  return unpack_layer(fd.get(), dest, opts);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

struct stat lstat_of(const std::string& p) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) fail_errno("lstat {}", p);
  return st;
}

std::string xattr_of(const std::string& p, const char* name) {
  char buf[256];
  ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof buf);
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}

// A v2 file capability blob: effective, permitted = CAP_NET_BIND_SERVICE.
std::string cap_net_bind() {
  std::string v(20, '\0');
  uint32_t words[5] = {0x02000001, 1u << 10, 0, 0, 0};
  std::memcpy(v.data(), words, sizeof words);
  return v;
}

std::vector<TarEntry> sample_entries() {
  return {
      {.name = "etc", .type = 'd', .mode = 0755, .mtime = 1500000000},
      {.name = "etc/hosts", .data = "127.0.0.1 localhost\n", .mode = 0644, .uid = 1000, .gid = 1001, .mtime = 1400000000},
      {.name = "bin/su", .data = "ELF", .mode = 04755, .xattrs = {{"security.capability", cap_net_bind()},
                                                                   {"user.note", "hi"}}},
      {.name = "bin/sh-link", .type = 'l', .link = "/bin/su", .uid = 7, .gid = 8},
      {.name = "bin/su-hard", .type = 'h', .link = "bin/su"},
      {.name = "run/fifo", .type = 'p', .mode = 0600},
      {.name = "dev/null", .type = 'c', .mode = 0666, .rdev_major = 1, .rdev_minor = 3},
      {.name = "tmp", .type = 'd', .mode = 01777},
  };
}

TEST(Layer, UnpacksFilesDirsLinksModesOwnersTimesXattrs) {
  TempDir t;
  std::string root = t / "root";
  unpack_bytes(build_tar(sample_entries()), root);
  EXPECT_EQ(read_file(root + "/etc/hosts"), "127.0.0.1 localhost\n");
  struct stat st = lstat_of(root + "/etc/hosts");
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1400000000);
  EXPECT_EQ(lstat_of(root + "/etc").st_mtim.tv_sec, 1500000000);  // set after its children
  EXPECT_EQ(lstat_of(root + "/bin/su").st_mode & 07777, 04755u);
  EXPECT_EQ(xattr_of(root + "/bin/su", "security.capability"), cap_net_bind());
  EXPECT_EQ(xattr_of(root + "/bin/su", "user.note"), "hi");
  st = lstat_of(root + "/bin/sh-link");
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_uid, 7u);
  char buf[64];
  ssize_t n = ::readlink((root + "/bin/sh-link").c_str(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n), "/bin/su");
  EXPECT_EQ(lstat_of(root + "/bin/su-hard").st_ino, lstat_of(root + "/bin/su").st_ino);
  EXPECT_EQ(lstat_of(root + "/bin/su").st_nlink, 2u);
  EXPECT_TRUE(S_ISFIFO(lstat_of(root + "/run/fifo").st_mode));
  st = lstat_of(root + "/dev/null");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  EXPECT_EQ(lstat_of(root + "/tmp").st_mode & 07777, 01777u);
  EXPECT_EQ(lstat_of(root + "/bin").st_mode & 07777, 0755u);  // implicit parent
}

TEST(Layer, DigestsOfPlainGzipAndZstd) {
  std::string tar = build_tar(sample_entries());
  for (Compression c : {Compression::none, Compression::gzip, Compression::zstd}) {
    TempDir t;
    std::string stream = build_tar(sample_entries(), c);
    if (c != Compression::none) {
      EXPECT_NE(stream, tar);
    }
    LayerDigests d = unpack_bytes(stream, t / "root");
    EXPECT_EQ(d.diff_id, sha256_of(tar)) << static_cast<int>(c);
    EXPECT_EQ(d.digest, sha256_of(stream));
    EXPECT_EQ(d.size, stream.size());
    EXPECT_EQ(d.tar_size, tar.size());
    EXPECT_EQ(read_file(t / "root/etc/hosts"), "127.0.0.1 localhost\n");
  }
}

TEST(Layer, WhiteoutsAndOpaqueDirectories) {
  TempDir t;
  std::string root = t / "root";
  unpack_bytes(build_tar({{.name = "a/.wh.gone", .uid = 5},
                          {.name = "keep", .type = 'd'},
                          {.name = "keep/.wh..wh..opq"},
                          {.name = ".wh..wh.plnk", .type = 'd'},
                          {.name = ".wh.top"}}),
               root, {.allow_devices = false});  // whiteouts are not "devices"
  struct stat st = lstat_of(root + "/a/gone");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_EQ(st.st_uid, 5u);
  EXPECT_TRUE(S_ISCHR(lstat_of(root + "/top").st_mode));
  EXPECT_FALSE(path_exists(root + "/a/.wh.gone"));
  EXPECT_EQ(xattr_of(root + "/keep", "trusted.overlay.opaque"), "y");
  EXPECT_FALSE(path_exists(root + "/keep/.wh..wh..opq"));
  EXPECT_FALSE(path_exists(root + "/.wh..wh.plnk"));
}

TEST(Layer, LaterEntriesReplaceEarlierOnesButDirectoriesMerge) {
  TempDir t;
  std::string root = t / "root";
  unpack_bytes(build_tar({{.name = "x", .data = "file"},
                          {.name = "x", .type = 'd', .mode = 0700},
                          {.name = "x/in", .data = "1"},
                          {.name = "x", .type = 'd', .mode = 0750},
                          {.name = "y", .type = 'd'},
                          {.name = "y/z", .data = "z"},
                          {.name = "y", .type = 'l', .link = "x"},
                          {.name = "./", .type = 'd', .mode = 0711}}),
               root);
  EXPECT_EQ(read_file(root + "/x/in"), "1");
  EXPECT_EQ(lstat_of(root + "/x").st_mode & 07777, 0750u);
  EXPECT_TRUE(S_ISLNK(lstat_of(root + "/y").st_mode));
  EXPECT_EQ(lstat_of(root).st_mode & 07777, 0711u);
}

// ------------------------------------------------------------ escapes

class Escape : public ::testing::Test {
 protected:
  void SetUp() override {
    mkdir_all(t / "outside");
    write_file(t / "outside/x", "sentinel");
    mkdir_all(root);
  }
  void TearDown() override {
    EXPECT_EQ(read_file(t / "outside/x"), "sentinel");
    EXPECT_EQ(lstat_of(t / "outside/x").st_nlink, 1u);
    EXPECT_EQ(lstat_of(t / "outside/x").st_mode & 07777, 0644u);
  }
  std::string unpack_error(const std::vector<TarEntry>& entries) {
    return error_of([&] { unpack_bytes(build_tar(entries), root, {.name = "sha256:ab12"}); });
  }
  // The sentinel's host path seen from inside the root.
  std::string host_rel() const { return (t / "outside/x").substr(1); }

  TempDir t;
  std::string root = t / "deep/root";
};

TEST_F(Escape, DotDotClimbingOutIsRefused) {
  EXPECT_EQ(unpack_error({{.name = "../../outside/x", .data = "pwned"}}),
            "layer sha256:ab12: entry ../../outside/x: escapes the root");
  EXPECT_EQ(unpack_error({{.name = "a/../../../outside/x", .data = "pwned"}}),
            "layer sha256:ab12: entry a/../../../outside/x: escapes the root");
}

TEST_F(Escape, AbsolutePathsAreMadeRelative) {
  EXPECT_EQ(unpack_error({{.name = "/" + host_rel(), .data = "inside"}}), "no error");
  EXPECT_EQ(read_file(root + "/" + host_rel()), "inside");
}

TEST_F(Escape, WritingThroughAbsoluteSymlinkStaysInRoot) {
  EXPECT_EQ(unpack_error({{.name = "evil", .type = 'l', .link = "/"},
                          {.name = "evil/" + host_rel(), .data = "inside"},
                          {.name = "evil2", .type = 'l', .link = t / "outside"},
                          {.name = "evil2/x", .data = "inside2"}}),
            "no error");
  EXPECT_EQ(read_file(root + "/" + host_rel()), "inside2");
  EXPECT_TRUE(S_ISLNK(lstat_of(root + "/evil").st_mode));
}

TEST_F(Escape, PreExistingSymlinkInDestinationStaysInRoot) {
  ASSERT_EQ(::symlink((t / "outside").c_str(), (root + "/planted").c_str()), 0);
  ASSERT_EQ(::symlink("../../outside", (root + "/planted-rel").c_str()), 0);
  EXPECT_EQ(unpack_error({{.name = "planted/x", .data = "a"}, {.name = "planted-rel/x", .data = "b"}}), "no error");
  EXPECT_EQ(read_file(root + "/" + (t / "outside/x").substr(1)), "a");
  EXPECT_EQ(read_file(root + "/outside/x"), "b");
}

TEST_F(Escape, RelativeSymlinkClimbingOutIsRefused) {
  EXPECT_EQ(unpack_error({{.name = "d", .type = 'l', .link = "../.."}, {.name = "d/outside/x", .data = "pwned"}}),
            "layer sha256:ab12: entry d: symlink target ../.. escapes the root");
  EXPECT_FALSE(path_exists(root + "/d"));
  EXPECT_EQ(unpack_error({{.name = "a/b/ok", .type = 'l', .link = "../../c"}}), "no error");
}

TEST_F(Escape, HardlinkOutsideIsRefused) {
  EXPECT_EQ(unpack_error({{.name = "link", .type = 'h', .link = "../../outside/x"}}),
            "layer sha256:ab12: entry link: hardlink target ../../outside/x escapes the root");
  // Absolute targets and targets through symlinks resolve inside the root: not found there.
  std::string err = unpack_error({{.name = "s", .type = 'l', .link = "/"},
                                  {.name = "link2", .type = 'h', .link = "s/" + host_rel()}});
  EXPECT_NE(err.find("layer sha256:ab12: entry link2: "), std::string::npos) << err;
  err = unpack_error({{.name = "link3", .type = 'h', .link = t / "outside/x"}});
  EXPECT_TRUE(err.starts_with("layer sha256:ab12: entry link3: ")) << err;
  EXPECT_NE(err.find("no such file or directory"), std::string::npos) << err;
}

TEST_F(Escape, WhiteoutThroughSymlinkStaysInRoot) {
  EXPECT_EQ(unpack_error({{.name = "w", .type = 'l', .link = t / "outside"}, {.name = "w/.wh.x"}}), "no error");
  EXPECT_TRUE(S_ISCHR(lstat_of(root + "/" + (t / "outside/x").substr(1)).st_mode));
}

// ------------------------------------------------------------ refusals

TEST(Layer, DevicesRefusedWhenNotAllowed) {
  TempDir t;
  std::string err = error_of([&] {
    unpack_bytes(build_tar({{.name = "dev/sda", .type = 'b', .rdev_major = 8}}), t / "root",
                 {.name = "L", .allow_devices = false});
  });
  EXPECT_EQ(err, "layer L: entry dev/sda: device nodes are not allowed");
  EXPECT_FALSE(path_exists(t / "root/dev/sda"));
  // fifos are fine
  unpack_bytes(build_tar({{.name = "p", .type = 'p'}}), t / "root", {.allow_devices = false});
  EXPECT_TRUE(S_ISFIFO(lstat_of(t / "root/p").st_mode));
}

TEST(Layer, GarbageAndOversizedHeaders) {
  TempDir t;
  std::string err = error_of([&] { unpack_bytes(std::string(4096, 'G'), t / "a", {.name = "L"}); });
  EXPECT_EQ(err, "layer L: Unrecognized archive format");
  err = error_of([&] { unpack_bytes("", t / "b", {.name = "L"}); });
  EXPECT_TRUE(err.starts_with("layer L: ")) << err;
  std::string tar = build_tar(sample_entries());
  err = error_of([&] { unpack_bytes(tar.substr(0, 700), t / "c", {.name = "L"}); });  // truncated mid-entry
  EXPECT_TRUE(err.starts_with("layer L: ")) << err;
  std::string long_name(300, 'n');
  err = error_of([&] { unpack_bytes(build_tar({{.name = long_name}}), t / "d", {.name = "L"}); });
  EXPECT_EQ(err, "layer L: entry " + long_name.substr(0, 200) + "...: name too long (300 bytes)");
  std::string long_path;
  for (int i = 0; i < 50; ++i) long_path += std::string(100, 'p') + "/";
  long_path += "f";
  err = error_of([&] { unpack_bytes(build_tar({{.name = long_path}}), t / "e", {.name = "L"}); });
  EXPECT_NE(err.find("path too long (5051 bytes)"), std::string::npos) << err;
  std::string gz = build_tar(sample_entries(), Compression::gzip);
  err = error_of([&] { unpack_bytes(gz.substr(0, gz.size() / 2), t / "f", {.name = "L"}); });
  EXPECT_TRUE(err.starts_with("layer L: ")) << err;
}

// ------------------------------------------------------------ write_layer_tar

// One line per entry describing everything a layer preserves.
void describe(const std::string& root, const std::string& rel, std::vector<std::string>* out,
              std::map<ino_t, std::string>* inodes) {
  std::vector<std::string> names;
  DIR* d = ::opendir((root + rel).c_str());
  while (struct dirent* e = ::readdir(d))
    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") names.push_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (auto& n : names) {
    std::string p = rel + "/" + n;
    struct stat st = lstat_of(root + p);
    std::string line = fmt::format("{} mode={:o} uid={} gid={} mtime={}", p, st.st_mode, st.st_uid, st.st_gid,
                                   st.st_mtim.tv_sec);
    if (S_ISREG(st.st_mode)) {
      line += " data=" + read_file(root + p);
      if (st.st_nlink > 1) {
        auto [it, first] = inodes->emplace(st.st_ino, p);
        line += " link=" + it->second;
      }
    }
    if (S_ISLNK(st.st_mode)) {
      char buf[256];
      line += " -> " + std::string(buf, ::readlink((root + p).c_str(), buf, sizeof buf));
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) line += fmt::format(" rdev={}", st.st_rdev);
    for (const char* x : {"security.capability", "user.note", "trusted.overlay.opaque"})
      if (xattr_of(root + p, x) != "<none>") line += std::string(" ") + x + "=" + xattr_of(root + p, x);
    out->push_back(line);
    if (S_ISDIR(st.st_mode)) describe(root, p, out, inodes);
  }
}

std::vector<std::string> describe(const std::string& root) {
  std::vector<std::string> out;
  std::map<ino_t, std::string> inodes;
  describe(root, "", &out, &inodes);
  return out;
}

std::vector<std::string> tar_names(const std::string& tar) {
  std::vector<std::string> names;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_open_memory(a, tar.data(), tar.size());
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) names.push_back(archive_entry_pathname(e));
  archive_read_free(a);
  return names;
}

std::string write_tar_of(const std::string& dir, const TempDir& t) {
  std::string out = t / "out.tar";
  UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  write_layer_tar(dir, fd.get());
  fd.reset();
  return read_file(out);
}

TEST(Layer, WriteLayerTarRoundTripsAndIsDeterministic) {
  TempDir t;
  auto entries = sample_entries();
  entries.push_back({.name = "gone/.wh.old"});
  entries.push_back({.name = "keep", .type = 'd', .mode = 0700});
  entries.push_back({.name = "keep/.wh..wh..opq"});
  entries.push_back({.name = "keep/new", .data = "n"});
  unpack_bytes(build_tar(entries), t / "a");
  std::string tar = write_tar_of(t / "a", t);
  EXPECT_EQ(write_tar_of(t / "a", t), tar);
  auto names = tar_names(tar);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end())) << fmt::format("{}", fmt::join(names, " "));
  EXPECT_NE(std::find(names.begin(), names.end(), "gone/.wh.old"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "keep/.wh..wh..opq"), names.end());
  LayerDigests d = unpack_bytes(tar, t / "b");
  EXPECT_EQ(d.diff_id, sha256_of(tar));
  auto a = describe(t / "a"), b = describe(t / "b");
  EXPECT_EQ(a, b);
  EXPECT_GT(a.size(), 10u);
  EXPECT_TRUE(std::any_of(a.begin(), a.end(), [](auto& l) { return l.find("trusted.overlay.opaque=y") != l.npos; }));
  EXPECT_TRUE(std::any_of(a.begin(), a.end(), [](auto& l) { return l.find("/bin/su-hard") == 0 && l.find("link=/bin/su") != l.npos; }));
}

}  // namespace
}  // namespace berth::image
