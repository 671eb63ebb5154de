#include "build/build_context.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "build/dockerignore.h"
#include "build/libarchive_dl.h"

namespace berth::build {
namespace {

// libarchive is loaded on first use rather than linked: the berth CLI links
// this library, and every berth invocation (berth run's start-up is
// benchmarked) would otherwise pay for loading libarchive and its
// compression libraries although only `build` needs them.

std::string absolute(const std::string& path) {
  if (path.starts_with("/")) return clean_path(path);
  char cwd[PATH_MAX];
  if (!::getcwd(cwd, sizeof cwd)) fail_errno("getcwd");
  return clean_path(path_join(cwd, path));
}

// filepath.EvalSymlinks; the error names the first missing component as Go's
// lstat does.
bool eval_symlinks(const std::string& path, std::string* out, std::string* err) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) {
    *out = buf;
    return true;
  }
  int e = errno;
  // Go reports the component that failed; realpath does not say which, so
  // find the first prefix that cannot be lstat'ed.
  std::string failed = path;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    std::string prefix = path.substr(0, i);
    struct stat st;
    if (::lstat(prefix.c_str(), &st) != 0) {
      failed = prefix;
      e = errno;
      break;
    }
  }
  *err = "lstat " + failed + ": " + std::string(e == ENOENT ? "no such file or directory" : std::strerror(e));
  return false;
}

// filepath.Rel for two clean absolute paths.
std::string relative(const std::string& base, const std::string& target) {
  if (target == base) return ".";
  if (base == "/") return target.substr(1);
  if (target.starts_with(base + "/")) return target.substr(base.size() + 1);
  std::string up = "..";
  std::string b = base.substr(0, base.rfind('/'));
  if (b.empty()) b = "/";
  std::string rest = relative(b, target);
  return rest == "." ? up : up + "/" + rest;
}

// Counts what libarchive writes and hands it to the descriptor. A failure
// is kept for TarWriter to rethrow: exceptions must not unwind through
// libarchive's C frames.
struct Sink {
  int fd;
  uint64_t bytes = 0;
  std::exception_ptr error;
};

la_ssize_t sink_write(struct archive*, void* data, const void* buf, size_t len) {
  auto* s = static_cast<Sink*>(data);
  try {
    write_all_fd(s->fd, std::string_view(static_cast<const char*>(buf), len), "build context");
  } catch (...) {
    s->error = std::current_exception();
    return -1;
  }
  s->bytes += len;
  return static_cast<la_ssize_t>(len);
}

class TarWriter {
 public:
  TarWriter(int fd, bool gzip) : a_(ar().archive_write_new()), sink_{fd} {
    if (!a_) fail("archive_write_new failed");
    ar().archive_write_set_format_pax_restricted(a_);
    if (gzip) ar().archive_write_add_filter_gzip(a_);
    ar().archive_write_set_bytes_in_last_block(a_, 1);
    if (ar().archive_write_open(a_, &sink_, nullptr, sink_write, nullptr) != ARCHIVE_OK) check(ARCHIVE_FATAL, "open");
  }
  ~TarWriter() { ar().archive_write_free(a_); }
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  void header(archive_entry* e, const std::string& name) { check(ar().archive_write_header(a_, e), name); }
  void data(const char* p, size_t n, const std::string& name) {
    if (ar().archive_write_data(a_, p, n) < 0) check(ARCHIVE_FATAL, name);
  }
  void file(const std::string& name, mode_t mode, uid_t uid, gid_t gid, std::string_view content) {
    archive_entry* e = ar().archive_entry_new();
    ar().archive_entry_set_pathname(e, name.c_str());
    ar().archive_entry_set_filetype(e, AE_IFREG);
    ar().archive_entry_set_perm(e, mode);
    ar().archive_entry_set_uid(e, uid);
    ar().archive_entry_set_gid(e, gid);
    ar().archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    ar().archive_entry_set_mtime(e, std::time(nullptr), 0);
    try {
      header(e, name);
    } catch (...) {
      ar().archive_entry_free(e);
      throw;
    }
    ar().archive_entry_free(e);
    data(content.data(), content.size(), name);
  }
  uint64_t close() {
    check(ar().archive_write_close(a_), "close");
    return sink_.bytes;
  }

 private:
  void check(int rc, const std::string& what) {
    if (rc >= ARCHIVE_WARN) return;
    if (sink_.error) std::rethrow_exception(sink_.error);
    const char* msg = ar().archive_error_string(a_);
    fail("writing build context: {}: {}", what, msg ? msg : "error");
  }
  struct archive* a_;
  Sink sink_;
};

class ContextWalker {
 public:
  ContextWalker(const std::string& dir, const ContextTarOptions& opts, TarWriter& tar)
      : root_(dir), opts_(opts), tar_(tar), ignore_(load_ignore(dir, opts.keep)) {}

  void walk(const std::string& rel) {
    std::string path = rel.empty() ? root_ : root_ + "/" + rel;
    DIR* d = ::opendir(path.c_str());
    if (!d) fail_errno("open {}", path);
    std::vector<std::string> names;
    while (dirent* ent = ::readdir(d)) {
      std::string n = ent->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) entry(rel.empty() ? n : rel + "/" + n);
  }

 private:
  static DockerIgnore load_ignore(const std::string& dir, const std::string& keep) {
    std::string text;
    if (!read_file_if_exists(dir + "/.dockerignore", &text)) return DockerIgnore();
    DockerIgnore ig = DockerIgnore::parse(text);
    // TrimBuildFilesFromExcludes: the builder needs both files.
    std::string extra;
    if (ig.matches(".dockerignore")) extra += "\n!.dockerignore";
    if (!keep.empty() && keep != "-" && ig.matches(keep)) extra += "\n!" + keep;
    return extra.empty() ? ig : DockerIgnore::parse(text + extra);
  }

  void entry(const std::string& rel) {
    std::string path = root_ + "/" + rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) fail_errno("can't stat '{}'", path);
    bool is_dir = S_ISDIR(st.st_mode);
    if (ignore_.matches(rel)) {
      if (is_dir && !ignore_.can_skip_dir(rel)) walk(rel);
      return;
    }
    if (S_ISSOCK(st.st_mode)) return;  // docker warns and skips them too
    if (rel == ".dockerignore" && opts_.extra) {
      std::string content = read_file(path) + "\n" + opts_.extra->name + "\n";
      tar_.file(rel, st.st_mode & 07777, 0, 0, content);
      wrote_ignore_ = true;
      return;
    }
    archive_entry* e = ar().archive_entry_new();
    try {
      write_entry(e, rel, path, st);
    } catch (...) {
      ar().archive_entry_free(e);
      throw;
    }
    ar().archive_entry_free(e);
    if (is_dir) walk(rel);
  }

  void write_entry(archive_entry* e, const std::string& rel, const std::string& path, const struct stat& st) {
    ar().archive_entry_copy_stat(e, &st);
    ar().archive_entry_set_pathname(e, rel.c_str());
    ar().archive_entry_set_uid(e, 0);
    ar().archive_entry_set_gid(e, 0);
    ar().archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0);
    ar().archive_entry_unset_atime(e);
    ar().archive_entry_unset_ctime(e);
    ar().archive_entry_unset_birthtime(e);
    ar().archive_entry_set_nlink(e, 1);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) ar().archive_entry_set_rdev(e, 0);
    ar().archive_entry_set_dev(e, 0);
    ar().archive_entry_set_ino(e, 0);
    if (S_ISLNK(st.st_mode)) {
      std::string target(PATH_MAX, '\0');
      ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
      if (n < 0) fail_errno("readlink {}", path);
      target.resize(static_cast<size_t>(n));
      ar().archive_entry_set_symlink(e, target.c_str());
      tar_.header(e, rel);
      return;
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [it, first] = links_.emplace(std::pair(st.st_dev, st.st_ino), rel);
      if (!first) {
        ar().archive_entry_set_hardlink(e, it->second.c_str());
        ar().archive_entry_set_size(e, 0);
        tar_.header(e, rel);
        return;
      }
    }
    if (!S_ISREG(st.st_mode)) {
      ar().archive_entry_set_size(e, 0);
      tar_.header(e, rel);
      return;
    }
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) fail_errno("no permission to read from '{}'", path);
    tar_.header(e, rel);
    read_chunks(fd.get(), path, [&](const char* p, size_t n) { tar_.data(p, n, rel); });
  }

 public:
  bool wrote_ignore() const { return wrote_ignore_; }

 private:
  std::string root_;
  const ContextTarOptions& opts_;
  TarWriter& tar_;
  DockerIgnore ignore_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
  bool wrote_ignore_ = false;
};

}  // namespace

LocalContext resolve_local_context(const std::string& context, const std::string& dockerfile_flag) {
  std::string err;
  LocalContext out;
  if (!eval_symlinks(absolute(context), &out.dir, &err))
    fail("unable to evaluate symlinks in context path: {}", err);
  struct stat st;
  if (::lstat(out.dir.c_str(), &st) != 0) fail_errno("stat {}", out.dir);
  if (!S_ISDIR(st.st_mode)) fail("context must be a directory: {}", out.dir);
  if (dockerfile_flag == "-") {
    out.dockerfile = "-";
    return out;
  }
  std::string df;
  if (dockerfile_flag.empty()) {
    df = out.dir + "/Dockerfile";
    struct stat s;
    if (::lstat(df.c_str(), &s) != 0 && errno == ENOENT && ::lstat((out.dir + "/dockerfile").c_str(), &s) == 0)
      df = out.dir + "/dockerfile";
  } else {
    df = absolute(dockerfile_flag);
  }
  std::string resolved;
  if (!eval_symlinks(df, &resolved, &err)) fail("unable to evaluate symlinks in Dockerfile path: {}", err);
  out.dockerfile = relative(out.dir, resolved);
  return out;
}

std::string random_dockerfile_name() {
  std::random_device rd;
  std::string name = ".dockerfile.";
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 20; ++i) name += hex[rd() % 16];
  return name;
}

uint64_t write_context_tar(const std::string& dir, const ContextTarOptions& opts, int fd) {
  TarWriter tar(fd, opts.gzip);
  ContextWalker walker(dir, opts, tar);
  walker.walk("");
  if (opts.extra) {
    tar.file(opts.extra->name, 0600, 0, 0, opts.extra->content);
    if (!walker.wrote_ignore()) tar.file(".dockerignore", 0600, 0, 0, ".dockerignore\n" + opts.extra->name + "\n");
  }
  return tar.close();
}

bool looks_like_archive(std::string_view h) {
  auto starts = [&](std::string_view magic) { return h.starts_with(magic); };
  using namespace std::string_view_literals;
  if (starts("\x1f\x8b\x08"sv) || starts("BZh"sv) || starts("\xfd" "7zXZ\x00"sv) || starts("\x28\xb5\x2f\xfd"sv))
    return true;
  if (h.size() < 512) return false;
  // A tar header: its checksum field (octal, at 148) is the sum of the
  // header's bytes with that field read as spaces.
  std::string_view field = h.substr(148, 8);
  uint64_t want = 0;
  bool digits = false;
  for (char c : field) {
    if (c >= '0' && c <= '7') {
      want = want * 8 + static_cast<uint64_t>(c - '0');
      digits = true;
    } else if (digits || (c != ' ' && c != '\0')) {
      break;
    }
  }
  if (!digits) return false;
  uint64_t sum = 0;
  for (size_t i = 0; i < 512; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  return sum == want;
}

uint64_t write_dockerfile_tar(std::string_view content, int fd) {
  mode_t mask = ::umask(0);
  ::umask(mask);
  TarWriter tar(fd, false);
  tar.file("Dockerfile", 0666 & ~mask, ::getuid(), ::getgid(), content);
  return tar.close();
}

}  // namespace berth::build
