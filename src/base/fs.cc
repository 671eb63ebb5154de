#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
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
  *out = read_fd(fd.get(), path);
  return true;
}

std::string read_fd(int fd, const std::string& name) {
  std::string data;
  read_chunks(fd, name, [&](const char* p, size_t n) { data.append(p, n); });
  return data;
}

void read_chunks(int fd, const std::string& name, const std::function<void(const char*, size_t)>& sink) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("read {}", name);
    }
    if (n == 0) break;
    sink(buf, static_cast<size_t>(n));
  }
}

void write_all_fd(int fd, std::string_view data, const std::string& path) {
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
  write_all_fd(fd.get(), data, path);
}

namespace {

void write_via_rename(const std::string& path, std::string_view data, mode_t mode, bool durable) {
  // A name unique to this call (not just this process: threads may write the
  // same path concurrently), created exclusively, and removed on any failure.
  static std::atomic<unsigned long> counter{0};
  std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter.fetch_add(1));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd.valid()) fail_errno("open {}", tmp);
  try {
    write_all_fd(fd.get(), data, tmp);
    if (durable && ::fsync(fd.get()) != 0) fail_errno("fsync {}", tmp);
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail_errno("rename {} to {}", tmp, path);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  write_via_rename(path, data, mode, true);
}

void write_file_replace(const std::string& path, std::string_view data, mode_t mode) {
  write_via_rename(path, data, mode, false);
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
  UniqueFd fd = try_open_in_root(root_fd, path, flags, mode);
  if (!fd.valid()) fail_errno("open {} in root", path);
  return fd;
}

UniqueFd try_open_in_root(int root_fd, std::string_view path, int flags, mode_t mode) {
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
    return UniqueFd();
  }
}

UniqueFd create_in_root(int root_fd, std::string_view path, bool leaf_is_file, mode_t mode) {
  // Walks path one component at a time the way the kernel would after a
  // chroot into root_fd: ".." stops at the root and symlinks are expanded
  // (absolute ones from the root), so `evil -> /` or `evil -> ../../..` lead
  // to directories inside root, which are created when missing.
  std::vector<std::string> todo;  // components still to walk, next one last
  auto push = [&](std::string_view p) {
    auto parts = split(p, '/');
    for (auto it = parts.rbegin(); it != parts.rend(); ++it)
      if (!it->empty() && *it != ".") todo.push_back(*it);
  };
  push(path);
  std::string resolved;  // symlink-free path inside root; "" is the root itself
  int links = 0, creations = 0;
  while (!todo.empty()) {
    std::string comp = todo.back();
    todo.pop_back();
    if (comp == "..") {
      auto slash = resolved.rfind('/');
      resolved = slash == std::string::npos ? "" : resolved.substr(0, slash);
      continue;
    }
    bool last = todo.empty();
    UniqueFd parent = open_in_root(root_fd, resolved.empty() ? "/" : resolved, O_PATH | O_DIRECTORY);
    std::string shown = resolved + "/" + comp;
    struct stat st;
    if (::fstatat(parent.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) fail_errno("stat {} in root", shown);
      if (++creations > 4096) fail("create {} in root: keeps disappearing", shown);
      if (last && leaf_is_file) {
        UniqueFd f(::openat(parent.get(), comp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            0644));
        if (!f.valid() && errno != EEXIST) fail_errno("create {} in root", shown);
      } else if (::mkdirat(parent.get(), comp.c_str(), mode) != 0 && errno != EEXIST) {
        fail_errno("mkdir {}", shown);
      }
      todo.push_back(comp);  // look again: whatever is there now is what we resolve
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) fail("resolve {} in root: too many levels of symbolic links", path);
      char buf[4096];
      ssize_t n = ::readlinkat(parent.get(), comp.c_str(), buf, sizeof buf);
      if (n < 0) fail_errno("readlink {} in root", shown);
      std::string_view target(buf, static_cast<size_t>(n));
      if (!target.empty() && target[0] == '/') resolved.clear();
      push(target);
      continue;
    }
    resolved = shown;
  }
  return open_in_root(root_fd, resolved.empty() ? "/" : resolved, O_PATH | (leaf_is_file ? 0 : O_DIRECTORY));
}

UniqueFd mkdir_all_in_root(int root_fd, std::string_view path, mode_t mode) {
  return create_in_root(root_fd, path, false, mode);
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace berth
