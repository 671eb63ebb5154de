// Unpacking uses libarchive only as a READER. We deliberately do not use
// archive_write_disk: it resolves paths with ordinary path lookups relative
// to the process's cwd, so a symlink planted by an earlier entry (or already
// present in the tree) can redirect later writes outside the destination,
// and its "secure" flags are checks, not confinement. Instead each entry's
// parent is resolved with openat2(RESOLVE_IN_ROOT) (base/fs.h) and the entry
// is created with *at() calls on that parent descriptor.
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::image {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";
constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";
constexpr size_t kMaxPath = 4095, kMaxName = 255;

struct ArchiveFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using ReadArchive = std::unique_ptr<struct archive, ArchiveFree>;

// Long names are cut in messages so an error stays one readable line.
std::string shown(std::string_view p) {
  if (p.size() <= 200) return std::string(p);
  return std::string(p.substr(0, 200)) + "...";
}

// Cleans an entry path relative to the root: leading "/" and "." dropped,
// ".." applied lexically. Returns false if it climbs above the root.
bool clean_in_root(std::string_view raw, std::string* out) {
  std::vector<std::string> parts;
  for (auto& c : split(raw, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  *out = join(parts, "/");
  return true;
}

std::string dirname_of(const std::string& rel) {
  auto s = rel.rfind('/');
  return s == std::string::npos ? "" : rel.substr(0, s);
}

std::string basename_of(const std::string& rel) {
  auto s = rel.rfind('/');
  return s == std::string::npos ? rel : rel.substr(s + 1);
}

// Removes name under dirfd (recursively for directories), never following symlinks.
void remove_at(int dirfd, const std::string& name) {
  if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR && errno != EPERM) fail_errno("remove existing {}", name);
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) fail_errno("open existing {}", name);
  DIR* dir = ::fdopendir(::dup(fd.get()));
  if (!dir) fail_errno("opendir {}", name);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(dir)) {
    std::string_view n(e->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(dir);
  for (auto& n : names) remove_at(fd.get(), n);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) fail_errno("rmdir existing {}", name);
}

// ------------------------------------------------------------ input chain
//
// fd --(read_fd, hashed: digest)--> outer archive (filters gzip/zstd/xz,
// format raw) --(archive_read_data, hashed: diff_id)--> inner archive
// (format tar, no filter).

struct FdSource {
  int fd;
  Sha256 hash;
  std::vector<char> buf = std::vector<char>(1 << 16);
};

la_ssize_t read_fd_cb(struct archive* a, void* ud, const void** out) {
  auto* s = static_cast<FdSource*>(ud);
  while (true) {
    ssize_t n = ::read(s->fd, s->buf.data(), s->buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      archive_set_error(a, errno, "read layer stream: %s", strerror_text(errno).c_str());
      return -1;
    }
    s->hash.update(s->buf.data(), static_cast<size_t>(n));
    *out = s->buf.data();
    return n;
  }
}

struct RawSource {
  struct archive* outer;
  Sha256 hash;
  std::vector<char> buf = std::vector<char>(1 << 16);
};

la_ssize_t read_raw_cb(struct archive* a, void* ud, const void** out) {
  auto* s = static_cast<RawSource*>(ud);
  la_ssize_t n = archive_read_data(s->outer, s->buf.data(), s->buf.size());
  if (n < 0) {
    archive_set_error(a, archive_errno(s->outer), "decompress: %s", archive_error_string(s->outer));
    return -1;
  }
  s->hash.update(s->buf.data(), static_cast<size_t>(n));
  *out = s->buf.data();
  return n;
}

// ------------------------------------------------------------ extraction

class Extractor {
 public:
  Extractor(int root_fd, const UnpackOptions& opts) : root_(root_fd), opts_(opts) {}

  void apply(struct archive* a, struct archive_entry* e);
  // Directory mtimes, set last: creating children changes them.
  void finish();

 private:
  void whiteout(int pfd, const std::string& parent, const std::string& base, struct archive_entry* e);
  void owner_at(int pfd, const std::string& base, struct archive_entry* e);
  void xattrs_fd(int fd, struct archive_entry* e);
  void xattrs_at(int pfd, const std::string& base, struct archive_entry* e);
  UniqueFd parent_fd(const std::string& parent);
  // Whether entries are chowned, and to whom (the tar's ids or opts_.owner).
  bool chowns() const { return opts_.preserve_owner || opts_.owner.has_value(); }
  uid_t uid_of(struct archive_entry* e) const {
    return opts_.owner ? opts_.owner->first : static_cast<uid_t>(archive_entry_uid(e));
  }
  gid_t gid_of(struct archive_entry* e) const {
    return opts_.owner ? opts_.owner->second : static_cast<gid_t>(archive_entry_gid(e));
  }
  void fchown_entry(int fd, struct archive_entry* e) {
    if (chowns() && ::fchown(fd, uid_of(e), gid_of(e)) != 0) fail_errno("chown {}:{}", uid_of(e), gid_of(e));
  }

  int root_;
  const UnpackOptions& opts_;
  std::vector<std::pair<std::string, struct timespec>> dir_times_;
};

struct timespec mtime_of(struct archive_entry* e) {
  struct timespec ts{};
  ts.tv_sec = archive_entry_mtime(e);
  ts.tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : 0;
  return ts;
}

void set_times_at(int pfd, const std::string& base, struct archive_entry* e) {
  struct timespec ts[2] = {mtime_of(e), mtime_of(e)};
  if (::utimensat(pfd, base.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("set times");
}

void check_owner(struct archive_entry* e) {
  la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
  if (uid < 0 || gid < 0 || uid >= 0xffffffffLL || gid >= 0xffffffffLL) fail("invalid owner {}:{}", uid, gid);
}

UniqueFd Extractor::parent_fd(const std::string& parent) {
  if (parent.empty()) return open_in_root(root_, ".", O_PATH | O_DIRECTORY);
  return mkdir_all_in_root(root_, parent, 0755);
}

void Extractor::owner_at(int pfd, const std::string& base, struct archive_entry* e) {
  if (!chowns()) return;
  if (::fchownat(pfd, base.c_str(), uid_of(e), gid_of(e), AT_SYMLINK_NOFOLLOW) != 0)
    fail_errno("chown {}:{}", uid_of(e), gid_of(e));
}

void Extractor::xattrs_fd(int fd, struct archive_entry* e) {
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (::fsetxattr(fd, name, value, size, 0) != 0 && errno != ENOTSUP) fail_errno("set xattr {}", name);
  }
}

void Extractor::xattrs_at(int pfd, const std::string& base, struct archive_entry* e) {
  std::string path = fd_path(pfd) + "/" + base;  // lsetxattr: the leaf is not followed
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (::lsetxattr(path.c_str(), name, value, size, 0) != 0 && errno != ENOTSUP && errno != EPERM)
      fail_errno("set xattr {}", name);
  }
}

void Extractor::whiteout(int pfd, const std::string& parent, const std::string& base, struct archive_entry* e) {
  if (base == kOpaque) {
    UniqueFd dir(::openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) fail_errno("open directory {}", parent.empty() ? "/" : parent);
    if (::fsetxattr(dir.get(), kOpaqueXattr, "y", 1, 0) != 0) fail_errno("mark directory opaque");
    return;
  }
  if (base.starts_with(".wh..wh.")) return;  // aufs metadata (.wh..wh.plnk etc.): nothing to do
  std::string name = base.substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..") fail("invalid whiteout name");
  remove_at(pfd, name);
  if (::mknodat(pfd, name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) fail_errno("create whiteout for {}", name);
  owner_at(pfd, name, e);
  set_times_at(pfd, name, e);
}

void Extractor::apply(struct archive* a, struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (!raw) fail("entry has no usable name");
  std::string rel;
  if (!clean_in_root(raw, &rel)) fail("escapes the root");
  if (rel.size() > kMaxPath) fail("path too long ({} bytes)", rel.size());
  check_owner(e);
  mode_t type = archive_entry_filetype(e);
  mode_t perm = archive_entry_perm(e) & 07777;
  const char* hardlink = archive_entry_hardlink(e);

  if (rel.empty()) {  // the root itself: only metadata of a directory entry applies
    if (type != AE_IFDIR || hardlink) fail("replaces the root with a non-directory");
    if (!opts_.root_entry) return;
    UniqueFd fd(::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    fchown_entry(fd.get(), e);
    if (::fchmod(fd.get(), perm) != 0) fail_errno("chmod");
    xattrs_fd(fd.get(), e);
    dir_times_.emplace_back("", mtime_of(e));
    return;
  }
  std::string parent = dirname_of(rel), base = basename_of(rel);
  if (base.size() > kMaxName) fail("name too long ({} bytes)", base.size());
  UniqueFd pfd = parent_fd(parent);
  int p = pfd.get();

  if (opts_.whiteouts && base.starts_with(kWhiteoutPrefix)) return whiteout(p, parent, base, e);

  struct stat st;
  bool exists = ::fstatat(p, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && opts_.no_overwrite_dir_nondir) {
    bool is_dir = type == AE_IFDIR && !hardlink;
    if (S_ISDIR(st.st_mode) && !is_dir) fail("cannot overwrite directory {} with non-directory", shown(rel));
    if (!S_ISDIR(st.st_mode) && is_dir) fail("cannot overwrite non-directory {} with directory", shown(rel));
  }

  if (hardlink) {
    std::string target;
    if (!clean_in_root(hardlink, &target) || target.empty())
      fail("hardlink target {} escapes the root", shown(hardlink));
    std::string tparent = dirname_of(target);
    UniqueFd tfd = open_in_root(root_, tparent.empty() ? "." : tparent, O_PATH | O_DIRECTORY);
    remove_at(p, base);
    if (::linkat(tfd.get(), basename_of(target).c_str(), p, base.c_str(), 0) != 0)
      fail_errno("hardlink to {}", shown(target));
    return;
  }

  if (exists && !(type == AE_IFDIR && S_ISDIR(st.st_mode))) remove_at(p, base);

  switch (type) {
    case AE_IFDIR: {
      if (!(exists && S_ISDIR(st.st_mode)) && ::mkdirat(p, base.c_str(), 0700) != 0) fail_errno("mkdir");
      UniqueFd fd(::openat(p, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) fail_errno("open directory");
      fchown_entry(fd.get(), e);
      if (::fchmod(fd.get(), perm) != 0) fail_errno("chmod");
      xattrs_fd(fd.get(), e);
      dir_times_.emplace_back(rel, mtime_of(e));
      return;
    }
    case AE_IFREG: {
      UniqueFd fd(::openat(p, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd.valid()) fail_errno("create file");
      const void* buf;
      size_t size;
      la_int64_t off;
      while (true) {
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) fail("read data: {}", archive_error_string(a));
        const char* q = static_cast<const char*>(buf);
        while (size > 0) {
          ssize_t w = ::pwrite(fd.get(), q, size, off);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) fail_errno("write");
          q += w;
          off += w;
          size -= static_cast<size_t>(w);
        }
      }
      if (archive_entry_size_is_set(e) && ::ftruncate(fd.get(), archive_entry_size(e)) != 0) fail_errno("truncate");
      // chown before chmod and xattrs: chown clears setuid and security.capability.
      fchown_entry(fd.get(), e);
      if (::fchmod(fd.get(), perm) != 0) fail_errno("chmod");
      xattrs_fd(fd.get(), e);
      struct timespec ts[2] = {mtime_of(e), mtime_of(e)};
      if (::futimens(fd.get(), ts) != 0) fail_errno("set times");
      return;
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (!target || !*target) fail("symlink without target");
      std::string ignored;
      if (target[0] != '/' && !clean_in_root(parent + "/" + target, &ignored))
        fail("symlink target {} escapes the root", shown(target));
      if (::symlinkat(target, p, base.c_str()) != 0) fail_errno("symlink");
      owner_at(p, base, e);
      xattrs_at(p, base, e);
      set_times_at(p, base, e);
      return;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      if (type != AE_IFIFO && !opts_.allow_devices) fail("device nodes are not allowed");
      dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
      if (::mknodat(p, base.c_str(), type | perm, dev) != 0) fail_errno("mknod");
      owner_at(p, base, e);
      // Just created by us under a parent resolved in the root: not a symlink.
      if (::fchmodat(p, base.c_str(), perm, 0) != 0) fail_errno("chmod");
      xattrs_at(p, base, e);
      set_times_at(p, base, e);
      return;
    }
    default:
      fail("unsupported entry type 0{:o}", type);
  }
}

void Extractor::finish() {
  for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
    UniqueFd fd = try_open_in_root(root_, it->first.empty() ? "." : it->first, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!fd.valid()) continue;  // replaced by a later entry
    struct timespec ts[2] = {it->second, it->second};
    if (::futimens(fd.get(), ts) != 0) fail_errno("set times of {}", it->first.empty() ? "/" : it->first);
  }
}

}  // namespace

LayerDigests unpack_layer(int in_fd, const std::string& dest, const UnpackOptions& opts) {
  auto ctx = [&] { return fmt::format("layer {}", opts.name); };
  UniqueFd root(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) fail_errno("{}: open destination {}", ctx(), dest);

  FdSource src{in_fd};
  ReadArchive outer(archive_read_new());
  archive_read_support_filter_gzip(outer.get());
  archive_read_support_filter_zstd(outer.get());
  archive_read_support_filter_xz(outer.get());
  archive_read_support_format_raw(outer.get());
  if (archive_read_open(outer.get(), &src, nullptr, read_fd_cb, nullptr) != ARCHIVE_OK)
    fail("{}: {}", ctx(), archive_error_string(outer.get()));
  struct archive_entry* raw_entry;
  int r = archive_read_next_header(outer.get(), &raw_entry);
  if (r == ARCHIVE_EOF) fail("{}: empty stream", ctx());
  if (r < ARCHIVE_WARN) fail("{}: {}", ctx(), archive_error_string(outer.get()));

  RawSource raw{outer.get()};
  ReadArchive inner(archive_read_new());
  archive_read_support_format_tar(inner.get());
  if (archive_read_open(inner.get(), &raw, nullptr, read_raw_cb, nullptr) != ARCHIVE_OK)
    fail("{}: {}", ctx(), archive_error_string(inner.get()));

  Extractor x(root.get(), opts);
  while (true) {
    struct archive_entry* e;
    r = archive_read_next_header(inner.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) fail("{}: bad tar header: {}", ctx(), archive_error_string(inner.get()));
    const char* name = archive_entry_pathname(e);
    try {
      x.apply(inner.get(), e);
    } catch (const Error& err) {
      throw err.wrap(fmt::format("{}: entry {}", ctx(), shown(name ? name : "?")));
    }
  }
  try {
    x.finish();
  } catch (const Error& err) {
    throw err.wrap(ctx());
  }
  // Hash what follows the tar's end marker too: both digests cover whole streams.
  char buf[65536];
  la_ssize_t n;
  while ((n = archive_read_data(outer.get(), buf, sizeof buf)) > 0) raw.hash.update(buf, static_cast<size_t>(n));
  if (n < 0) fail("{}: decompress: {}", ctx(), archive_error_string(outer.get()));
  while (true) {
    ssize_t m = ::read(in_fd, buf, sizeof buf);
    if (m < 0 && errno == EINTR) continue;
    if (m < 0) fail_errno("{}: read stream", ctx());
    if (m == 0) break;
    src.hash.update(buf, static_cast<size_t>(m));
  }
  uint64_t size = src.hash.size(), tar_size = raw.hash.size();
  return LayerDigests{raw.hash.finish(), src.hash.finish(), size, tar_size};
}

// ------------------------------------------------------------ writing

namespace {

struct WriteArchiveFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};
using Entry = std::unique_ptr<struct archive_entry, EntryFree>;

class TarWriter {
 public:
  TarWriter(struct archive* a, std::string dir, const TarOptions& opts) : a_(a), dir_(std::move(dir)), opts_(opts) {}
  // Every entry of the directory dirfd, named prefix + name, sorted.
  void walk(int dirfd, const std::string& prefix);
  // One entry `base` of dirfd named `name` (and its subtree).
  void entry(int dirfd, const std::string& base, const std::string& name);
  // The directory dirfd itself named `name`, and its subtree.
  void self(int dirfd, const std::string& name);

 private:
  Entry header(const std::string& name, const struct stat& st, mode_t type);
  void put(struct archive_entry* e, const std::string& name);
  std::map<std::string, std::string> xattrs(int dirfd, const std::string& base);
  // The subtree of directory `sub` (stat st, inside a directory on device parent_dev).
  void descend(int sub, const struct stat& st, dev_t parent_dev, const std::string& name, bool opaque);

  struct archive* a_;
  std::string dir_;
  const TarOptions& opts_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

std::string child_prefix(const std::string& name) { return name == "/" ? "/" : name + "/"; }

// Mounts whose contents are the kernel's, not files: a container's /proc and
// /sys are mountpoints in its image, and only the mountpoint is content.
bool is_pseudo_fs(int fd) {
  struct statfs sfs;
  if (::fstatfs(fd, &sfs) != 0) return false;
  switch (static_cast<unsigned long>(sfs.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case 0x19800202:  // MQUEUE_MAGIC (not in linux/magic.h)
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case BPF_FS_MAGIC:
      return true;
    default:
      return false;
  }
}

Entry TarWriter::header(const std::string& name, const struct stat& st, mode_t type) {
  Entry e(archive_entry_new());
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), type);
  archive_entry_set_perm(e.get(), st.st_mode & 07777);
  archive_entry_set_uid(e.get(), st.st_uid);
  archive_entry_set_gid(e.get(), st.st_gid);
  archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, 0);
  archive_entry_set_size(e.get(), 0);
  return e;
}

void TarWriter::put(struct archive_entry* e, const std::string& name) {
  if (archive_write_header(a_, e) < ARCHIVE_WARN) fail("write tar of {}: {}: {}", dir_, name, archive_error_string(a_));
}

// The xattrs a layer carries (as docker: file capabilities; plus user.*),
// and the opaque marker, which becomes a ".wh..wh..opq" entry.
std::map<std::string, std::string> TarWriter::xattrs(int dirfd, const std::string& base) {
  std::map<std::string, std::string> out;
  std::string path = fd_path(dirfd) + "/" + base;
  std::string names(65536, '\0');
  ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return out;  // ENOTSUP and friends: no xattrs
  for (auto& k : split(std::string_view(names.data(), static_cast<size_t>(n)), '\0')) {
    if (k.empty() || !(k == "security.capability" || k == kOpaqueXattr || k.starts_with("user."))) continue;
    std::string v(65536, '\0');
    ssize_t m = ::lgetxattr(path.c_str(), k.c_str(), v.data(), v.size());
    if (m < 0) continue;
    v.resize(static_cast<size_t>(m));
    out[k] = v;
  }
  return out;
}

void TarWriter::walk(int dirfd, const std::string& prefix) {
  std::vector<std::string> names;
  {
    DIR* d = ::fdopendir(::dup(dirfd));
    if (!d) fail_errno("write tar of {}: opendir {}", dir_, prefix);
    while (struct dirent* de = ::readdir(d)) {
      std::string_view n(de->d_name);
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const auto& base : names) entry(dirfd, base, prefix + base);
}

void TarWriter::descend(int sub, const struct stat& st, dev_t parent_dev, const std::string& name, bool opaque) {
  if (opaque) {
    std::string opq = child_prefix(name) + std::string(kOpaque);
    Entry o = header(opq, st, AE_IFREG);
    archive_entry_set_perm(o.get(), st.st_mode & 0777);
    put(o.get(), opq);
  }
  if (opts_.skip_pseudo_fs && st.st_dev != parent_dev && is_pseudo_fs(sub)) return;
  walk(sub, child_prefix(name));
}

void TarWriter::self(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstat(dirfd, &st) != 0) fail_errno("write tar of {}: stat {}", dir_, name);
  if (!S_ISDIR(st.st_mode)) fail("write tar of {}: {} is not a directory", dir_, name);
  UniqueFd sub(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!sub.valid()) fail_errno("write tar of {}: open {}", dir_, name);
  Entry e = header(name, st, AE_IFDIR);
  put(e.get(), name);
  walk(sub.get(), child_prefix(name));
}

void TarWriter::entry(int dirfd, const std::string& base, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("write tar of {}: stat {}", dir_, name);
  if (opts_.skip && opts_.skip(name, st, dirfd)) return;
  if (opts_.overlay_whiteouts && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {  // overlay whiteout
    auto slash = name.rfind('/');
    std::string wh = name.substr(0, slash + 1) + std::string(kWhiteoutPrefix) + name.substr(slash + 1);
    Entry e = header(wh, st, AE_IFREG);
    archive_entry_set_perm(e.get(), st.st_mode & 0777);
    put(e.get(), wh);
    return;
  }
  if (S_ISSOCK(st.st_mode)) return;  // sockets are not layer content (docker skips them too)
  auto xa = xattrs(dirfd, base);
  bool opaque = opts_.overlay_whiteouts && S_ISDIR(st.st_mode) && xa.count(kOpaqueXattr) && xa[kOpaqueXattr] == "y";
  xa.erase(kOpaqueXattr);
  Entry e = header(name, st, st.st_mode & S_IFMT);
  for (auto& [k, v] : xa) archive_entry_xattr_add_entry(e.get(), k.c_str(), v.data(), v.size());
  if (S_ISDIR(st.st_mode)) {
    put(e.get(), name);
    UniqueFd sub(::openat(dirfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) fail_errno("write tar of {}: open {}", dir_, name);
    struct stat parent;
    if (::fstat(dirfd, &parent) != 0) fail_errno("write tar of {}: stat", dir_);
    descend(sub.get(), st, parent.st_dev, name, opaque);
  } else if (S_ISLNK(st.st_mode)) {
    std::string target(4096, '\0');
    ssize_t n = ::readlinkat(dirfd, base.c_str(), target.data(), target.size());
    if (n < 0) fail_errno("write tar of {}: readlink {}", dir_, name);
    target.resize(static_cast<size_t>(n));
    archive_entry_set_symlink(e.get(), target.c_str());
    put(e.get(), name);
  } else if (S_ISREG(st.st_mode)) {
    if (st.st_nlink > 1) {
      auto [it, first] = links_.emplace(std::make_pair(st.st_dev, st.st_ino), name);
      if (!first) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        put(e.get(), name);
        return;
      }
    }
    archive_entry_set_size(e.get(), st.st_size);
    put(e.get(), name);
    UniqueFd fd(::openat(dirfd, base.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) fail_errno("write tar of {}: open {}", dir_, name);
    char buf[65536];
    off_t left = st.st_size;
    while (left > 0) {
      ssize_t n = ::read(fd.get(), buf, static_cast<size_t>(std::min<off_t>(left, sizeof buf)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_errno("write tar of {}: read {}", dir_, name);
      if (n == 0) fail("write tar of {}: {} shrank while being read", dir_, name);
      if (archive_write_data(a_, buf, static_cast<size_t>(n)) < 0)
        fail("write tar of {}: {}: {}", dir_, name, archive_error_string(a_));
      left -= n;
    }
  } else {  // char/block devices, fifos
    archive_entry_set_rdevmajor(e.get(), major(st.st_rdev));
    archive_entry_set_rdevminor(e.get(), minor(st.st_rdev));
    put(e.get(), name);
  }
}

// A pax writer on out_fd; `what` names the tree in errors.
std::unique_ptr<struct archive, WriteArchiveFree> open_writer(int out_fd, const std::string& what) {
  std::unique_ptr<struct archive, WriteArchiveFree> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open_fd(a.get(), out_fd) != ARCHIVE_OK)
    fail("write tar of {}: {}", what, archive_error_string(a.get()));
  return a;
}

}  // namespace

void write_layer_tar(const std::string& dir, int out_fd, const TarOptions& opts) {
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) fail_errno("write tar of {}: open", dir);
  auto a = open_writer(out_fd, dir);
  TarWriter w(a.get(), dir, opts);
  w.walk(root.get(), "");
  if (archive_write_close(a.get()) != ARCHIVE_OK) fail("write tar of {}: {}", dir, archive_error_string(a.get()));
}

void write_path_tar(int dir_fd, const std::string& base, const std::string& name, int out_fd, const TarOptions& opts) {
  auto a = open_writer(out_fd, name);
  TarWriter w(a.get(), name, opts);
  if (base.empty() || base == ".")
    w.self(dir_fd, name);
  else
    w.entry(dir_fd, base, name);
  if (archive_write_close(a.get()) != ARCHIVE_OK) fail("write tar of {}: {}", name, archive_error_string(a.get()));
}

}  // namespace berth::image
