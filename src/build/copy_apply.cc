#include "build/copy_apply.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/error.h"
#include "base/fs.h"
#include "image/layer.h"

namespace berth::build {
namespace {

// Both paths clean and absolute.
bool is_at_or_below(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  return path.starts_with(dir) && (path.size() == dir.size() || path[dir.size()] == '/');
}

std::string parent_of(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
}

std::string base_of(const std::string& p) { return p.substr(p.rfind('/') + 1); }

// Relative paths inside the upper dir ("a/b"; never empty).
std::string rel_child(const std::string& dir, std::string_view name) { return dir + "/" + std::string(name); }
std::string rel_parent(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

// Opens rel below dir_fd, refusing every symlink on the way: rel is a real
// path (from /proc/self/fd), so a symlink there means something is off.
UniqueFd open_beneath(int dir_fd, const std::string& rel, int flags) {
  struct open_how how {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  while (true) {
    long fd = ::syscall(SYS_openat2, dir_fd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno != EINTR && errno != EAGAIN) return UniqueFd();
  }
}

// What readlink says about an open descriptor ("" when it cannot).
std::string real_path_of(int fd) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(fd_path(fd).c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return "";
  return std::string(buf, static_cast<size_t>(n));
}

std::string child_of(const std::string& dir, std::string_view name) {
  return dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
}

// ------------------------------------------------------------ archives

enum class Packing { none, tar, gzip, bzip2, xz, zstd };

struct ArchiveFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using ReadArchive = std::unique_ptr<struct archive, ArchiveFree>;

// Go's archive/tar accepts a header whose stored checksum matches the
// unsigned or the signed byte sum (field counted as spaces); an all-zero
// block is the end marker, so an empty archive is not one.
bool tar_header_ok(const unsigned char* h) {
  bool zero = true;
  for (int i = 0; i < 512 && zero; ++i) zero = h[i] == 0;
  if (zero) return false;
  int i = 148;
  while (i < 156 && (h[i] == ' ' || h[i] == 0)) ++i;
  long stored = 0;
  int digits = 0;
  for (; i < 156 && h[i] >= '0' && h[i] <= '7'; ++i, ++digits) stored = stored * 8 + (h[i] - '0');
  if (digits == 0) return false;
  for (; i < 156; ++i)
    if (h[i] != ' ' && h[i] != 0) return false;
  long usum = 0, ssum = 0;
  for (int j = 0; j < 512; ++j) {
    unsigned char c = j >= 148 && j < 156 ? ' ' : h[j];
    usum += c;
    ssum += static_cast<signed char>(c);
  }
  return stored == usum || stored == ssum;
}

// Decompresses the start of fd and reads one tar header (moby's IsArchivePath).
bool compressed_tar(int fd, Packing p) {
  ReadArchive a(archive_read_new());
  switch (p) {
    case Packing::gzip: archive_read_support_filter_gzip(a.get()); break;
    case Packing::bzip2: archive_read_support_filter_bzip2(a.get()); break;
    case Packing::xz: archive_read_support_filter_xz(a.get()); break;
    default: archive_read_support_filter_zstd(a.get()); break;
  }
  archive_read_support_format_tar(a.get());
  if (::lseek(fd, 0, SEEK_SET) != 0) return false;
  if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) return false;
  struct archive_entry* e;
  int r = archive_read_next_header(a.get(), &e);
  return r == ARCHIVE_OK || r == ARCHIVE_WARN;
}

Packing sniff(int fd) {
  unsigned char h[512];
  size_t got = 0;
  while (got < sizeof h) {
    ssize_t n = ::pread(fd, h + got, sizeof h - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  Packing p = Packing::none;
  if (got >= 2 && h[0] == 0x1f && h[1] == 0x8b) p = Packing::gzip;
  else if (got >= 3 && std::memcmp(h, "BZh", 3) == 0) p = Packing::bzip2;
  else if (got >= 6 && std::memcmp(h, "\xfd\x37\x7a\x58\x5a\x00", 6) == 0) p = Packing::xz;
  else if (got >= 4 && std::memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0) p = Packing::zstd;
  else return got == sizeof h && tar_header_ok(h) ? Packing::tar : Packing::none;
  return compressed_tar(fd, p) ? p : Packing::none;
}

// unpack_layer reads plain, gzip, xz and zstd itself; bzip2 is decompressed
// here on a thread and fed to it through a socket (send's MSG_NOSIGNAL keeps
// an early failure of the reader from raising SIGPIPE).
void unpack_bzip2(int src_fd, const std::string& into, const image::UnpackOptions& uo) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fail_errno("socketpair");
  UniqueFd reader(sv[0]), writer(sv[1]);
  std::string writer_error;
  std::thread t([&writer_error, src_fd, w = writer.release()] {
    UniqueFd out(w);
    ReadArchive a(archive_read_new());
    archive_read_support_filter_bzip2(a.get());
    archive_read_support_format_raw(a.get());
    struct archive_entry* e;
    if (archive_read_open_fd(a.get(), src_fd, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(a.get(), &e) < ARCHIVE_WARN) {
      writer_error = fmt::format("bzip2: {}", archive_error_string(a.get()));
      return;
    }
    char buf[1 << 16];
    while (true) {
      la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
      if (n == 0) return;
      if (n < 0) {
        writer_error = fmt::format("bzip2: {}", archive_error_string(a.get()));
        return;
      }
      for (la_ssize_t off = 0; off < n;) {
        ssize_t m = ::send(out.get(), buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (m < 0 && errno == EINTR) continue;
        if (m < 0) return;  // the reader stopped; it reports why
        off += m;
      }
    }
  });
  try {
    image::unpack_layer(reader.get(), into, uo);
  } catch (const Error&) {
    ::shutdown(reader.get(), SHUT_RDWR);
    t.join();
    if (!writer_error.empty()) fail("{}", writer_error);  // a corrupt stream shows as a truncated tar too
    throw;
  }
  t.join();
  if (!writer_error.empty()) fail("{}", writer_error);
}

// ------------------------------------------------------------ applier

class Applier {
 public:
  Applier(const std::string& root, const ApplyOptions& opts) : opts_(opts) {
    root_.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_.valid()) fail_errno("open image root {}", root);
    if (opts.chown) std::tie(uid_, gid_) = *opts.chown;
    if (!opts.upper.empty()) {
      // Without either the fast path stays off; the merged view always works.
      root_real_ = real_path_of(root_.get());
      if (!root_real_.empty()) upper_.reset(::open(opts.upper.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    }
  }

  size_t written_in_upper() const { return in_upper_; }

  void run(const CopyPlan& plan) {
    for (const auto& it : plan.items) {
      bool tree_entry = !it.named;
      try {
        apply(it, tree_entry);
      } catch (const Error& e) {
        throw e.wrap(fmt::format("copy to {}", it.dest));
      }
    }
    while (!dirs_.empty()) pop_dir();
  }

 private:
  // A directory on the path of recent items. dirs_ is a chain (each entry
  // lies below the previous one), so items in plan order (parents first)
  // resolve their parent with no syscall, and a copied directory's times are
  // set once everything inside it has been written.
  // upper: where the directory is in the upper dir when fd is that one (the
  // fast path, see the header), relative to it.
  struct Dir {
    std::string path;
    UniqueFd fd;
    std::optional<struct timespec> mtime, atime;
    std::optional<std::string> upper;
  };

  // Where a file went: its destination in the image and, when written
  // directly there, its path in the upper dir.
  struct Placed {
    std::string dest;
    std::optional<std::string> upper;
  };


  mode_t perm(const CopyItem& it) const { return (opts_.chmod ? *opts_.chmod : it.mode) & 07777; }

  void apply(const CopyItem& it, bool tree_entry) {
    std::string dest = it.dest;
    if (!it.name_if_dir.empty()) {
      leave_upper();
      UniqueFd d = try_open_in_root(root_.get(), dest, O_PATH | O_DIRECTORY);
      if (d.valid()) dest = child_of(dest, it.name_if_dir);
    }
    if (it.kind == CopyKind::dir && it.ensure_only) {
      dir_fd(dest);
      return;
    }
    if (opts_.extract_archives && it.kind == CopyKind::file && !tree_entry && maybe_extract(it)) return;
    if (dest == "/") fail("cannot replace the root directory");
    int parent = dir_fd(parent_of(dest));
    std::string leaf = base_of(dest);
    const std::optional<std::string>& up = current_upper();
    if (up) ++in_upper_;
    if (it.kind == CopyKind::file) placed_[it.dest] = {dest, up ? std::optional(rel_child(*up, leaf)) : std::nullopt};
    switch (it.kind) {
      case CopyKind::file: copy_file(it, parent, leaf); break;
      case CopyKind::dir: make_dir(it, parent, leaf, dest); break;
      case CopyKind::symlink: make_symlink(it, parent, leaf); break;
      case CopyKind::special: make_special(it, parent, leaf); break;
    }
  }

  // ---- directories

  void pop_dir() {
    Dir d = std::move(dirs_.back());
    dirs_.pop_back();
    if (d.mtime) {
      struct timespec ts[2] = {*d.atime, *d.mtime};
      if (::futimens(d.fd.get(), ts) != 0) fail_errno("set times of {}", d.path);
    }
  }

  // The directory at path (clean, absolute) inside root, created with its
  // missing parents (0755, the --chown owner) when absent. Symlinks on the
  // way are followed inside root; a dangling one has its target created
  // there, as BuildKit's fs.RootPath + MkdirAll would. The descriptor stays
  // owned by dirs_.
  int dir_fd(const std::string& path) {
    while (!dirs_.empty() && !is_at_or_below(path, dirs_.back().path)) pop_dir();
    if (path == "/") return root_.get();
    if (!dirs_.empty() && dirs_.back().path == path) return dirs_.back().fd.get();
    int base = dirs_.empty() ? root_.get() : dirs_.back().fd.get();
    std::string at = dirs_.empty() ? "/" : dirs_.back().path;
    std::string_view rest = std::string_view(path).substr(at == "/" ? 1 : at.size() + 1);
    while (!rest.empty()) {
      auto slash = rest.find('/');
      std::string comp(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      std::string next = child_of(at, comp);
      std::optional<std::string> base_upper = current_upper(), up;
      UniqueFd fd(::openat(base, comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid() && errno == ENOENT) {
        if (::mkdirat(base, comp.c_str(), 0700) == 0) {
          fd.reset(::openat(base, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
          if (!fd.valid()) fail_errno("open new directory {}", next);
          if (::fchown(fd.get(), uid_, gid_) != 0) fail_errno("chown {}", next);
          if (::fchmod(fd.get(), 0755) != 0) fail_errno("chmod {}", next);
          if (base_upper) ++in_upper_;
          up = base_upper ? std::optional(rel_child(*base_upper, comp)) : to_upper(fd);
        } else if (errno != EEXIST) {
          fail_errno("mkdir {}", next);
        }
      } else if (fd.valid() && base_upper) {
        up = rel_child(*base_upper, comp);
      }
      if (!fd.valid()) {  // a symlink (or a name that appeared meanwhile): resolve it inside root
        leave_upper();
        fd = try_open_in_root(root_.get(), next, O_PATH | O_DIRECTORY);
        if (!fd.valid() && errno == ENOENT) fd = mkdir_all_in_root(root_.get(), next, 0755);
        if (!fd.valid()) fail_errno("mkdir {}", next);
      }
      dirs_.push_back({next, std::move(fd), std::nullopt, std::nullopt, std::move(up)});
      base = dirs_.back().fd.get();
      at = next;
    }
    return base;
  }

  void make_dir(const CopyItem& it, int parent, const std::string& leaf, const std::string& dest) {
    bool created = ::mkdirat(parent, leaf.c_str(), 0700) == 0;
    if (!created && errno != EEXIST) fail_errno("mkdir");
    UniqueFd fd(::openat(parent, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOTDIR || errno == ELOOP) fail("cannot copy to non-directory: {}", dest);  // BuildKit's words
      fail_errno("open");
    }
    if (::fchown(fd.get(), uid_, gid_) != 0) fail_errno("chown");
    if (::fchmod(fd.get(), perm(it)) != 0) fail_errno("chmod");
    struct stat st;
    if (::lstat(it.source.c_str(), &st) != 0) fail_errno("stat source");
    const std::optional<std::string>& parent_upper = current_upper();
    std::optional<std::string> up = parent_upper ? std::optional(rel_child(*parent_upper, leaf))
                                    : created    ? to_upper(fd)
                                                 : std::nullopt;
    dirs_.push_back({dest, std::move(fd), st.st_mtim, st.st_atim, std::move(up)});
  }

  // ---- the fast path (see the header)

  // The upper-dir path of the directory dir_fd last returned, if it is there.
  const std::optional<std::string>& current_upper() const { return dirs_.empty() ? no_upper_ : dirs_.back().upper; }
  int current_fd() const { return dirs_.empty() ? root_.get() : dirs_.back().fd.get(); }

  // For a directory just created through the merged root: its counterpart
  // in the upper dir. On success fd is replaced by a descriptor of that one
  // (O_RDONLY, as futimens needs) and its relative path returned.
  std::optional<std::string> to_upper(UniqueFd& fd) {
    if (!upper_.valid()) return std::nullopt;
    std::string real = real_path_of(fd.get());
    std::string prefix = root_real_ == "/" ? "/" : root_real_ + "/";
    if (real.size() <= prefix.size() || !real.starts_with(prefix)) return std::nullopt;
    std::string rel = real.substr(prefix.size());
    UniqueFd u = open_beneath(upper_.get(), rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!u.valid()) return std::nullopt;
    // Overlayfs reports an upper-only directory's own inode number.
    struct stat merged, upper;
    if (::fstat(fd.get(), &merged) != 0 || ::fstat(u.get(), &upper) != 0) return std::nullopt;
    if (!S_ISDIR(upper.st_mode) || merged.st_ino != upper.st_ino || merged.st_mode != upper.st_mode ||
        merged.st_uid != upper.st_uid || merged.st_gid != upper.st_gid)
      return std::nullopt;
    fd = std::move(u);
    return rel;
  }

  // Before anything looks a path up through the merged root: directories
  // held in the upper dir go back to the merged view, which has not seen
  // (so not cached) anything written below them yet; from now on what goes
  // there is written through it. Their upper paths are real paths in the
  // merged view too. Descriptors taken from dirs_ before are invalid after.
  void leave_upper() {
    for (auto& d : dirs_) {
      if (!d.upper) continue;
      UniqueFd fd = open_beneath(root_.get(), *d.upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (!fd.valid()) fail_errno("reopen {}", d.path);
      d.fd = std::move(fd);
      d.upper.reset();
    }
  }

  // ---- everything else

  // Makes room at parent/leaf for a new non-directory: an existing one goes,
  // a directory stays and is an error (BuildKit's ensureEmptyFileTarget).
  void clear_leaf(int parent, const std::string& leaf, const char* what) {
    struct stat st;
    if (::fstatat(parent, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return;
      fail_errno("stat existing entry");
    }
    if (S_ISDIR(st.st_mode)) fail("cannot replace a directory with a {}", what);
    if (::unlinkat(parent, leaf.c_str(), 0) != 0 && errno != ENOENT) fail_errno("remove existing entry");
  }

  // Runs create (returns 0 or -1 with errno) and, when something is in the
  // way, once more after clearing it.
  template <typename F>
  void create(int parent, const std::string& leaf, const char* what, F&& fn) {
    if (fn() == 0) return;
    if (errno != EEXIST) fail_errno("create {}", what);
    clear_leaf(parent, leaf, what);
    if (fn() != 0) fail_errno("create {}", what);
  }

  void set_owner_mode_times(int parent, const std::string& leaf, const CopyItem& it, bool is_link) {
    if (::fchownat(parent, leaf.c_str(), uid_, gid_, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("chown");
    if (!is_link && ::fchmodat(parent, leaf.c_str(), perm(it), 0) != 0) fail_errno("chmod");
    struct stat st;
    if (::lstat(it.source.c_str(), &st) != 0) fail_errno("stat source");
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(parent, leaf.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("set times");
  }

  // Hard-links candidate at parent/leaf when it is exactly what copying
  // `it` (whose source has stat src) would write; false to copy instead.
  bool link_identical(const std::string& candidate, const struct stat& src, const CopyItem& it, int parent,
                      const std::string& leaf) {
    if (candidate.empty()) return false;
    struct stat c;
    if (::lstat(candidate.c_str(), &c) != 0 || !S_ISREG(c.st_mode) || c.st_size != src.st_size ||
        (c.st_mode & 07777) != perm(it) || c.st_uid != uid_ || c.st_gid != gid_ ||
        c.st_mtim.tv_sec != src.st_mtim.tv_sec || c.st_mtim.tv_nsec != src.st_mtim.tv_nsec)
      return false;
    // Two items linked to one inode would become a hard link pair in the
    // layer where copies are two files.
    if (!linked_.insert({c.st_dev, c.st_ino}).second) return false;
    return ::linkat(AT_FDCWD, candidate.c_str(), parent, leaf.c_str(), 0) == 0;  // else copy (EEXIST, EMLINK...)
  }

  void copy_file(const CopyItem& it, int parent, const std::string& leaf) {
    if (!it.hardlink_to.empty() && !extracted_.count(it.hardlink_to)) {
      // linkat cannot cross from the overlay to the upper file system: both
      // ends in upper, or both through the merged view.
      auto pos = placed_.find(it.hardlink_to);
      if (pos != placed_.end() && pos->second.upper && current_upper()) {
        std::string trel = *pos->second.upper;
        UniqueFd tparent = open_beneath(upper_.get(), rel_parent(trel), O_PATH | O_DIRECTORY);
        std::string tleaf = base_of(trel);
        if (tparent.valid()) {
          create(parent, leaf, "hard link",
                 [&] { return ::linkat(tparent.get(), tleaf.c_str(), parent, leaf.c_str(), 0); });
          return;
        }
      }
      if (current_upper()) {
        leave_upper();
        parent = current_fd();
        --in_upper_;
        placed_[it.dest].upper.reset();
      }
      std::string target = pos == placed_.end() ? it.hardlink_to : pos->second.dest;
      UniqueFd tparent = open_in_root(root_.get(), parent_of(target), O_PATH | O_DIRECTORY);
      std::string tleaf = base_of(target);
      create(parent, leaf, "hard link", [&] { return ::linkat(tparent.get(), tleaf.c_str(), parent, leaf.c_str(), 0); });
      return;
    }
    UniqueFd in(::open(it.source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid()) fail_errno("open source");
    struct stat st;
    if (::fstat(in.get(), &st) != 0) fail_errno("stat source");
    if (current_upper() && opts_.link_source && link_identical(opts_.link_source(it), st, it, parent, leaf)) return;
    UniqueFd out;
    create(parent, leaf, "file", [&] {
      out.reset(::openat(parent, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      return out.valid() ? 0 : -1;
    });
    copy_data(in.get(), out.get(), st.st_size);
    // chown before chmod: chown clears setuid/setgid.
    if (::fchown(out.get(), uid_, gid_) != 0) fail_errno("chown");
    if (::fchmod(out.get(), perm(it)) != 0) fail_errno("chmod");
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    if (::futimens(out.get(), ts) != 0) fail_errno("set times");
  }

  // copy_file_range shares extents where the file system can (reflinks on
  // btrfs/xfs) and otherwise copies in the kernel, but only within one file
  // system type: from a context on ext4 into an overlay mount it says EXDEV,
  // which is remembered, and sendfile (any two regular files, still no copy
  // through user space) takes over; read/write is the last resort.
  void copy_data(int in, int out, off_t size) {
    off_t done = 0;
    while (use_copy_range_ && done < size) {
      ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, static_cast<size_t>(size - done), 0);
      if (n > 0) {
        done += n;
        continue;
      }
      if (n == 0) return;  // the source shrank
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) fail_errno("copy data");
      use_copy_range_ = false;
    }
    while (use_sendfile_ && done < size) {
      ssize_t n = ::sendfile(out, in, nullptr, static_cast<size_t>(std::min<off_t>(size - done, 1 << 30)));
      if (n > 0) {
        done += n;
        continue;
      }
      if (n == 0) return;
      if (errno == EINTR) continue;
      if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) fail_errno("copy data");
      use_sendfile_ = false;
    }
    if (done >= size) return;
    std::vector<char> buf(1 << 17);
    while (true) {
      ssize_t n = ::read(in, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_errno("read source");
      if (n == 0) return;
      write_all_fd(out, std::string_view(buf.data(), static_cast<size_t>(n)), "destination");
    }
  }

  void make_symlink(const CopyItem& it, int parent, const std::string& leaf) {
    create(parent, leaf, "symlink", [&] { return ::symlinkat(it.link_target.c_str(), parent, leaf.c_str()); });
    set_owner_mode_times(parent, leaf, it, true);
  }

  void make_special(const CopyItem& it, int parent, const std::string& leaf) {
    create(parent, leaf, "special file",
           [&] { return ::mknodat(parent, leaf.c_str(), (it.mode & S_IFMT) | 0600, it.rdev); });
    set_owner_mode_times(parent, leaf, it, false);
  }

  // ---- ADD

  // Unpacks it.source into the destination as the instruction wrote it
  // (the plan appended the source's name when that ended in "/").
  bool maybe_extract(const CopyItem& it) {
    UniqueFd in(::open(it.source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid()) fail_errno("open source");
    Packing p = sniff(in.get());
    if (p == Packing::none) return false;
    if (::lseek(in.get(), 0, SEEK_SET) != 0) fail_errno("seek source");
    std::string into = it.name_if_dir.empty() ? parent_of(it.dest) : it.dest;
    dir_fd(into);
    // unpack_layer through the merged view, as without the fast path: a tar
    // may carry trusted.overlay.* xattrs, which overlayfs drops.
    leave_upper();
    int dir = current_fd();
    image::UnpackOptions uo;
    uo.name = it.source.substr(it.source.rfind('/') + 1);
    uo.whiteouts = false;
    uo.root_entry = false;
    uo.owner = opts_.chown;
    std::string path = fd_path(dir);  // the resolved directory itself, not a path to re-resolve
    try {
      if (p == Packing::bzip2) unpack_bzip2(in.get(), path, uo);
      else image::unpack_layer(in.get(), path, uo);
    } catch (const Error& e) {
      throw e.wrap(fmt::format("unpack into {}", into));
    }
    extracted_.insert(it.dest);
    return true;
  }

  const ApplyOptions& opts_;
  UniqueFd root_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::vector<Dir> dirs_;
  std::unordered_map<std::string, Placed> placed_;       // a file's plan dest -> where it went
  std::unordered_set<std::string> extracted_;            // plan dests of unpacked archives
  bool use_copy_range_ = true;                           // until the kernel refuses it
  bool use_sendfile_ = true;
  std::set<std::pair<dev_t, ino_t>> linked_;  // inodes link_identical used
  UniqueFd upper_;                                       // O_PATH; invalid: no fast path
  std::string root_real_;                                // root's real path, to map new directories to upper
  const std::optional<std::string> no_upper_;
  size_t in_upper_ = 0;                                  // entries written directly into upper
};

}  // namespace

bool is_tar_archive(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("open {}", path);
  return sniff(fd.get()) != Packing::none;
}

size_t apply_copy_plan(const std::string& root, const CopyPlan& plan, const ApplyOptions& opts) {
  Applier a(root, opts);
  a.run(plan);
  return a.written_in_upper();
}

}  // namespace berth::build
