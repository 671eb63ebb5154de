#include "engine/container_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>

#include "base/clock.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/engine.h"
#include "engine/errors.h"
#include "engine/spec_mounts.h"
#include "engine/user_lookup.h"
#include "image/layer.h"

namespace berth::engine {

namespace {

// Go's os.FileMode type and mode bits (io/fs).
constexpr uint32_t kGoModeDir = 1u << 31, kGoModeSymlink = 1u << 27, kGoModeDevice = 1u << 26,
                   kGoModeNamedPipe = 1u << 25, kGoModeSocket = 1u << 24, kGoModeSetuid = 1u << 23,
                   kGoModeSetgid = 1u << 22, kGoModeCharDevice = 1u << 21, kGoModeSticky = 1u << 20;

bool ends_with_dot_element(std::string_view p) { return p == "." || p.ends_with("/."); }

// docker's PreserveTrailingDotOrSeparator(filepath.Join("/", path), path).
std::string absolute_request_path(const std::string& path) {
  std::string abs = clean_path("/" + path);
  if (!ends_with_dot_element(abs) && ends_with_dot_element(path)) {
    if (!abs.ends_with("/")) abs += "/";
    abs += ".";
  }
  if (!abs.ends_with("/") && path.ends_with("/")) abs += "/";
  return abs;
}

// Go's filepath.Base.
std::string go_base(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/") return p;
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

[[noreturn]] void no_such_file() { throw NotFoundError("no such file"); }

bool missing(int err) { return err == ENOENT || err == ENOTDIR; }

}  // namespace

uint32_t go_file_mode(uint32_t m) {
  uint32_t out = m & 0777;
  switch (m & S_IFMT) {
    case S_IFDIR: out |= kGoModeDir; break;
    case S_IFLNK: out |= kGoModeSymlink; break;
    case S_IFBLK: out |= kGoModeDevice; break;
    case S_IFCHR: out |= kGoModeDevice | kGoModeCharDevice; break;
    case S_IFIFO: out |= kGoModeNamedPipe; break;
    case S_IFSOCK: out |= kGoModeSocket; break;
    default: break;
  }
  if (m & S_ISUID) out |= kGoModeSetuid;
  if (m & S_ISGID) out |= kGoModeSetgid;
  if (m & S_ISVTX) out |= kGoModeSticky;
  return out;
}

nlohmann::ordered_json PathStat::to_json() const {
  // Field order as Go marshals types.ContainerPathStat.
  return {{"name", name}, {"size", size}, {"mode", mode}, {"mtime", mtime}, {"linkTarget", link_target}};
}

ResolvedPath resolve_path(int root_fd, const std::string& path) {
  std::string abs = absolute_request_path(path);
  auto slash = abs.rfind('/');
  std::string dir = abs.substr(0, slash + 1), base = abs.substr(slash + 1);
  UniqueFd fd = try_open_in_root(root_fd, dir, O_PATH | O_DIRECTORY);
  if (!fd.valid()) {
    if (missing(errno)) no_such_file();
    fail_errno("resolve {}", dir);
  }
  return ResolvedPath{std::move(fd), base, go_base(abs)};
}

std::string resolve_in_scope(int root_fd, const std::string& abs) {
  std::vector<std::string> done;
  std::deque<std::string> todo;
  for (auto& c : split(abs, '/')) todo.push_back(c);
  int hops = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    done.push_back(c);
    UniqueFd fd = try_open_in_root(root_fd, "/" + join(done, "/"), O_PATH | O_NOFOLLOW);
    struct stat st;
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;  // missing parts stay lexical
    if (++hops > 255) fail("resolve {}: too many levels of symbolic links", abs);
    std::string target(4096, '\0');
    ssize_t n = ::readlinkat(fd.get(), "", target.data(), target.size());
    if (n < 0) fail_errno("readlink {}", "/" + join(done, "/"));
    target.resize(static_cast<size_t>(n));
    done.pop_back();
    if (target.starts_with("/")) done.clear();
    auto parts = split(target, '/');
    todo.insert(todo.begin(), parts.begin(), parts.end());
  }
  return "/" + join(done, "/");
}

PathStat stat_path(int root_fd, const std::string& path) {
  ResolvedPath r = resolve_path(root_fd, path);
  struct stat st;
  int rc = r.base.empty() || r.base == "." ? ::fstat(r.dir.get(), &st)
                                            : ::fstatat(r.dir.get(), r.base.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) {
    if (missing(errno)) no_such_file();
    fail_errno("stat {}", path);
  }
  PathStat s;
  s.name = r.name;
  s.size = st.st_size;
  s.mode = go_file_mode(st.st_mode);
  s.mtime = rfc3339_nano(st.st_mtim);
  if (S_ISLNK(st.st_mode)) s.link_target = resolve_in_scope(root_fd, absolute_request_path(path));
  return s;
}

void archive_path(int root_fd, const std::string& path, int out_fd, bool skip_pseudo_fs) {
  ResolvedPath r = resolve_path(root_fd, path);
  struct stat st;
  if (!r.base.empty() && r.base != "." && ::fstatat(r.dir.get(), r.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (missing(errno)) no_such_file();
    fail_errno("stat {}", path);
  }
  image::TarOptions opts;
  opts.overlay_whiteouts = false;
  opts.skip_pseudo_fs = skip_pseudo_fs;
  image::write_path_tar(r.dir.get(), r.base, r.name, out_fd, opts);
}

UniqueFd extraction_dir(int root_fd, const std::string& path) {
  UniqueFd fd = try_open_in_root(root_fd, absolute_request_path(path), O_PATH);
  if (!fd.valid()) {
    if (missing(errno)) no_such_file();
    fail_errno("resolve {}", path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) fail_errno("stat {}", path);
  if (!S_ISDIR(st.st_mode)) throw InvalidArgumentError("extraction point is not a directory");
  return fd;
}

void extract_archive(int root_fd, const std::string& path, int in_fd, bool no_overwrite_dir_nondir,
                     std::optional<std::pair<uid_t, gid_t>> owner) {
  UniqueFd dir = extraction_dir(root_fd, path);
  image::UnpackOptions u;
  u.name = "for " + path;
  u.whiteouts = false;
  u.root_entry = false;
  u.no_overwrite_dir_nondir = no_overwrite_dir_nondir;
  u.owner = owner;
  try {
    image::unpack_layer(in_fd, fd_path(dir.get()), u);
  } catch (const Error& e) {
    throw InvalidArgumentError(e.what());  // a bad or hostile tar is the client's error
  }
}

namespace {

// Whether abs (resolved in the container) lies in one of its mounts, and if
// so whether that mount is writable: docker's checkIfPathIsInAVolume.
enum class MountCover { kNone, kWritable, kReadOnly };
MountCover mount_covering(const Container& c, const std::string& abs) {
  MountCover best = MountCover::kNone;
  size_t best_len = 0;
  for (const auto& m : parse_user_mounts(c.host_config)) {
    std::string dst = clean_path(m.value("destination", ""));
    if (!(abs == dst || abs.starts_with(dst + "/")) || dst.size() < best_len) continue;
    bool ro = false;
    for (const auto& o : m.value("options", nlohmann::json::array()))
      if (o == "ro") ro = true;
    best = ro ? MountCover::kReadOnly : MountCover::kWritable;
    best_len = dst.size();
  }
  return best;
}

}  // namespace

ContainerFs::ContainerFs(Engine& eng, const std::string& ref) : ref_(ref), c_(eng.get(ref)) {
  if (c_.running() && c_.state.pid > 0) {
    std::string proc_root = fmt::format("/proc/{}/root", c_.state.pid);
    root_.reset(::open(proc_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    // The pid may have exited (or been reused) since get(): use it only if
    // the container still runs with the same pid now that it is open.
    Container now = eng.get(c_.id);
    if (root_.valid() && now.running() && now.state.pid == c_.state.pid) {
      live_ = true;
      return;
    }
    root_.reset();
    c_ = now;
  }
  std::string merged = eng.rootfs_path(c_.id);
  root_.reset(::open(merged.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_.valid()) fail_errno("open root of container {}", c_.short_id());
}

void ContainerFs::not_found(const std::string& path) const {
  throw NotFoundError(fmt::format("Could not find the file {} in container {}", path, ref_));
}

PathStat ContainerFs::stat(const std::string& path) const {
  try {
    return stat_path(root_.get(), path);
  } catch (const NotFoundError&) {
    not_found(path);
  }
}

void ContainerFs::archive(const std::string& path, int out_fd) const {
  try {
    archive_path(root_.get(), path, out_fd, live_);
  } catch (const NotFoundError&) {
    not_found(path);
  }
}

void ContainerFs::extract(const std::string& path, int in_fd, const ExtractOptions& opts) const {
  try {
    extraction_dir(root_.get(), path);  // refuse before reading the upload
  } catch (const NotFoundError&) {
    not_found(path);
  }
  std::string resolved = resolve_in_scope(root_.get(), absolute_request_path(path));
  MountCover cover = mount_covering(c_, resolved);
  if (cover == MountCover::kReadOnly) throw InvalidArgumentError("mounted volume is marked read-only");
  if (cover == MountCover::kNone && c_.host_config.value("ReadonlyRootfs", false))
    throw InvalidArgumentError("container rootfs is marked read-only");
  std::optional<std::pair<uid_t, gid_t>> owner;
  std::string user = c_.config.value("User", "");
  if (opts.copy_uid_gid && !user.empty()) {
    ResolvedUser ru = resolve_user_in_rootfs(fd_path(root_.get()), user, {});
    owner = std::make_pair(static_cast<uid_t>(ru.uid), static_cast<gid_t>(ru.gid));
  }
  try {
    extract_archive(root_.get(), path, in_fd, opts.no_overwrite_dir_nondir, owner);
  } catch (const NotFoundError&) {
    not_found(path);
  }
}

void publish_container_event(Engine& eng, const Container& c, const std::string& action,
                             std::map<std::string, std::string> extra) {
  Event ev{"container", action, c.id, std::move(extra), 0};
  ev.attributes["image"] = c.image_ref;
  ev.attributes["name"] = c.name.empty() ? "" : c.name.substr(1);
  if (c.config.contains("Labels") && c.config["Labels"].is_object())
    for (const auto& [k, v] : c.config["Labels"].items())
      if (v.is_string() && !ev.attributes.count(k)) ev.attributes[k] = v.get<std::string>();
  eng.events().publish(std::move(ev));
}

void export_container(Engine& eng, const std::string& ref, int out_fd) {
  std::string merged = eng.rootfs_path(ref);
  image::TarOptions opts;
  opts.overlay_whiteouts = false;
  image::write_layer_tar(merged, out_fd, opts);
}

}  // namespace berth::engine
