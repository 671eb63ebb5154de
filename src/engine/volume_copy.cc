#include "engine/volume_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"

namespace berth::engine {
namespace {

// Entries of an open directory, without "." and "..".
std::vector<std::string> list_dir(int dir_fd) {
  int fd = ::dup(dir_fd);
  if (fd < 0) fail_errno("dup");
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    fail_errno("read directory");
  }
  ::rewinddir(d);
  std::vector<std::string> out;
  while (struct dirent* de = ::readdir(d)) {
    std::string_view n = de->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

void copy_xattrs(int from, int to) {
  char names[8192];
  ssize_t n = ::flistxattr(from, names, sizeof names);
  for (ssize_t i = 0; n > 0 && i < n; i += static_cast<ssize_t>(strlen(names + i)) + 1) {
    char value[8192];
    ssize_t len = ::fgetxattr(from, names + i, value, sizeof value);
    // Best effort, as the kernel may refuse some namespaces (trusted.*) to us.
    if (len >= 0) (void)::fsetxattr(to, names + i, value, static_cast<size_t>(len), 0);
  }
}

void copy_bytes(int from, int to, const std::string& name) {
  for (;;) {
    ssize_t n = ::copy_file_range(from, nullptr, to, nullptr, size_t{1} << 30, 0);
    if (n == 0) return;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) fail_errno("copy {}", name);
    break;  // not between these file systems: plain reads and writes
  }
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n == 0) return;
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("read {}", name);
    }
    write_all_fd(to, std::string_view(buf, static_cast<size_t>(n)), name);
  }
}

// Owner, then mode (chown clears set-id bits), then times.
void copy_metadata(int fd, const struct stat& st, const std::string& name) {
  if (::fchown(fd, st.st_uid, st.st_gid) != 0) fail_errno("chown {}", name);
  if (::fchmod(fd, st.st_mode & 07777) != 0) fail_errno("chmod {}", name);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(fd, times) != 0) fail_errno("set times of {}", name);
}

class TreeCopier {
 public:
  explicit TreeCopier(int dst_root) : dst_root_(dst_root) {}

  // Copies the entries of src into dst; rel is dst's path below the volume.
  void copy_contents(int src, int dst, const std::string& rel) {
    for (const auto& name : list_dir(src)) {
      std::string path = rel.empty() ? name : rel + "/" + name;
      struct stat st;
      if (::fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("stat {}", path);
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto key = std::pair{st.st_dev, st.st_ino};
        if (auto it = links_.find(key); it != links_.end()) {
          if (::linkat(dst_root_, it->second.c_str(), dst, name.c_str(), 0) != 0) fail_errno("link {}", path);
          continue;
        }
        links_[key] = path;
      }
      copy_entry(src, dst, name, st, path);
    }
  }

 private:
  void copy_entry(int src, int dst, const std::string& name, const struct stat& st, const std::string& path) {
    const char* n = name.c_str();
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(dst, n, 0700) != 0) fail_errno("mkdir {}", path);
      UniqueFd from(::openat(src, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd to(::openat(dst, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!from.valid() || !to.valid()) fail_errno("open directory {}", path);
      copy_contents(from.get(), to.get(), path);
      copy_xattrs(from.get(), to.get());
      copy_metadata(to.get(), st, path);  // last: the entries made above changed its times
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd from(::openat(src, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!from.valid()) fail_errno("open {}", path);
      UniqueFd to(::openat(dst, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!to.valid()) fail_errno("create {}", path);
      copy_bytes(from.get(), to.get(), path);
      copy_xattrs(from.get(), to.get());
      copy_metadata(to.get(), st, path);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t len = ::readlinkat(src, n, target.data(), target.size());
      if (len < 0) fail_errno("readlink {}", path);
      target.resize(static_cast<size_t>(len));
      if (::symlinkat(target.c_str(), dst, n) != 0) fail_errno("symlink {}", path);
      if (::fchownat(dst, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("chown {}", path);
      struct timespec times[2] = {st.st_atim, st.st_mtim};
      if (::utimensat(dst, n, times, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("set times of {}", path);
    } else {
      if (::mknodat(dst, n, st.st_mode, st.st_rdev) != 0) fail_errno("mknod {}", path);
      if (::fchownat(dst, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("chown {}", path);
      if (::fchmodat(dst, n, st.st_mode & 07777, 0) != 0) fail_errno("chmod {}", path);
      struct timespec times[2] = {st.st_atim, st.st_mtim};
      if (::utimensat(dst, n, times, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("set times of {}", path);
    }
  }

  int dst_root_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first copy of each hard-linked inode
};

}  // namespace

bool copy_image_content(const std::string& rootfs, const std::string& path, const std::string& volume_dir) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) fail_errno("open {}", rootfs);
  UniqueFd src = try_open_in_root(root.get(), path, O_RDONLY | O_DIRECTORY);
  if (!src.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    fail_errno("open {} in the image", path);
  }
  UniqueFd dst(::open(volume_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dst.valid()) fail_errno("open {}", volume_dir);
  if (!list_dir(dst.get()).empty()) return false;
  try {
    TreeCopier(dst.get()).copy_contents(src.get(), dst.get(), "");
    struct stat st;
    if (::fstat(src.get(), &st) != 0) fail_errno("stat {}", path);
    if (::fchown(dst.get(), st.st_uid, st.st_gid) != 0 || ::fchmod(dst.get(), st.st_mode & 07777) != 0)
      fail_errno("set owner and mode of {}", volume_dir);
  } catch (const Error& e) {
    throw e.wrap(fmt::format("copy {} from the image into the volume", path));
  }
  return true;
}

}  // namespace berth::engine
