#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "base/error.h"
#include "base/strings.h"

namespace berth {

std::string read_file(const std::string& path) {
  std::string out;
  if (!read_file_if_exists(path, &out)) fail("read {}: no such file or directory", path);
  return out;
}

bool read_file_if_exists(const std::string& path, std::string* out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return false;
    fail_errno("open {}", path);
  }
  std::string data;
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("read {}", path);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  *out = std::move(data);
  return true;
}

static void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("write {}", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void write_file(const std::string& path, std::string_view data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) fail_errno("open {}", path);
  write_all(fd.get(), data, path);
}

void write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd.valid()) fail_errno("open {}", tmp);
    write_all(fd.get(), data, tmp);
    if (::fsync(fd.get()) != 0) fail_errno("fsync {}", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    fail_errno("rename {} to {}", tmp, path);
  }
}

void mkdir_all(const std::string& path, mode_t mode) {
  std::string cur;
  for (const auto& part : split(path, '/')) {
    if (part.empty()) {
      if (cur.empty()) cur = "/";
      continue;
    }
    if (!cur.empty() && cur.back() != '/') cur += '/';
    cur += part;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) fail_errno("mkdir {}", cur);
  }
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

static void remove_all_at(int dirfd, const char* name, const std::string& shown) {
  if (::unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR && errno != EPERM) fail_errno("remove {}", shown);
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail_errno("open {}", shown);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    fail_errno("opendir {}", shown);
  }
  while (struct dirent* e = ::readdir(dir)) {
    std::string_view n(e->d_name);
    if (n == "." || n == "..") continue;
    remove_all_at(fd, e->d_name, shown + "/" + e->d_name);
  }
  ::closedir(dir);
  if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) fail_errno("rmdir {}", shown);
}

void remove_all(const std::string& path) { remove_all_at(AT_FDCWD, path.c_str(), path); }

std::string clean_path(std::string_view path) {
  bool absolute = !path.empty() && path[0] == '/';
  std::vector<std::string> out;
  for (auto& part : split(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!out.empty() && out.back() != "..") out.pop_back();
      else if (!absolute) out.push_back(part);
      continue;
    }
    out.push_back(part);
  }
  std::string s = join(out, "/");
  if (absolute) return "/" + s;
  return s.empty() ? "." : s;
}

std::string path_join(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  std::string s(a);
  if (s.back() != '/') s += '/';
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  return s + std::string(b);
}

UniqueFd open_in_root(int root_fd, std::string_view path, int flags, mode_t mode) {
  std::string rel(path);
  if (rel.empty()) rel = ".";
  struct open_how how {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  while (true) {
    long fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;  // EAGAIN: concurrent rename, retry
    fail_errno("open {} in root", path);
  }
}

UniqueFd mkdir_all_in_root(int root_fd, std::string_view path, mode_t mode) {
  UniqueFd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!cur.valid()) fail_errno("dup root fd");
  std::string walked;
  for (const auto& part : split(clean_path(std::string("/") + std::string(path)), '/')) {
    if (part.empty()) continue;
    walked += "/" + part;
    if (::mkdirat(cur.get(), part.c_str(), mode) != 0 && errno != EEXIST) fail_errno("mkdir {}", walked);
    // Re-resolve from the root each step: a symlink component stays confined.
    cur = open_in_root(root_fd, walked, O_PATH | O_DIRECTORY);
  }
  return cur;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace berth
