#include "engine/container_changes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

#include "base/error.h"
#include "base/strings.h"
#include "engine/engine.h"

namespace berth::engine {

namespace {

constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";

bool is_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0); }

bool is_opaque(int dir_fd) {
  char v[2];
  ssize_t n = ::fgetxattr(dir_fd, kOpaqueXattr, v, sizeof v);
  return n == 1 && v[0] == 'y';
}

std::vector<std::string> components(const std::string& abs) {
  std::vector<std::string> out;
  for (auto& c : split(abs, '/'))
    if (!c.empty() && c != ".") out.push_back(c);
  return out;
}

std::vector<std::string> list_dir(int dir_fd) {
  std::vector<std::string> names;
  DIR* d = ::fdopendir(::dup(dir_fd));
  if (!d) fail_errno("opendir");
  ::rewinddir(d);  // the dup shares dir_fd's offset, which an earlier listing moved
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Docker's init layer: mountpoints the runtime needs, not the container's changes.
bool is_init_path(const std::string& abs) {
  static const char* const kPaths[] = {"/.dockerenv",  "/etc/hostname", "/etc/hosts", "/etc/resolv.conf",
                                       "/etc/mtab",    "/dev/console",  "/dev/pts",   "/dev/shm",
                                       "/dev/mqueue",  "/proc",         "/sys"};
  return std::find(std::begin(kPaths), std::end(kPaths), abs) != std::end(kPaths);
}

class ChangeWalker {
 public:
  explicit ChangeWalker(const LowerLayers& lower) : lower_(lower) {}

  // Records the changes under directory dir_fd (path abs); `hidden`: the
  // lower layers do not show through (an opaque or added ancestor).
  // Returns whether anything beneath changed.
  bool walk(int dir_fd, const std::string& abs, bool hidden);

  std::vector<Change> out;

 private:
  const LowerLayers& lower_;
};

bool ChangeWalker::walk(int dir_fd, const std::string& abs, bool hidden) {
  bool any = false;
  std::string prefix = abs == "/" ? "/" : abs + "/";
  for (const auto& name : list_dir(dir_fd)) {
    std::string path = prefix + name;
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed while we looked (the container runs)
      fail_errno("stat {}", path);
    }
    if (is_whiteout(st)) {
      out.push_back({path, ChangeKind::kDeleted});
      any = true;
      continue;
    }
    if (is_runtime_placeholder(path, st, dir_fd, lower_)) continue;
    std::optional<struct stat> below = hidden ? std::nullopt : lower_.lookup(path);
    struct stat lst = below.value_or(st);  // compared only when below
    if (!S_ISDIR(st.st_mode)) {
      out.push_back({path, below ? ChangeKind::kModified : ChangeKind::kAdded});
      any = true;
      continue;
    }
    UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) {
      if (errno == ENOENT) continue;
      fail_errno("open {}", path);
    }
    bool opaque = is_opaque(sub.get());
    size_t at = out.size();
    bool inner = false;
    if (below && S_ISDIR(lst.st_mode) && opaque) {
      auto upper_names = list_dir(sub.get());
      for (const auto& child : lower_.children(path))
        if (!std::binary_search(upper_names.begin(), upper_names.end(), child)) {
          out.push_back({path + "/" + child, ChangeKind::kDeleted});
          inner = true;
        }
    }
    inner = walk(sub.get(), path, !below || opaque) || inner;
    bool meta = below && (!S_ISDIR(lst.st_mode) || (lst.st_mode & 07777) != (st.st_mode & 07777) ||
                          lst.st_uid != st.st_uid || lst.st_gid != st.st_gid);
    if (!below || inner || meta) {
      out.insert(out.begin() + static_cast<long>(at), {path, below ? ChangeKind::kModified : ChangeKind::kAdded});
      any = true;
    }
  }
  return any;
}

}  // namespace

LowerLayers::LowerLayers(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) {
    UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) fail_errno("open layer {}", d);
    layers_.push_back(std::move(fd));
  }
}

LowerLayers::Hit LowerLayers::find(int layer, const std::vector<std::string>& parts, struct stat* st,
                                   UniqueFd* out) const {
  UniqueFd dir(::dup(layers_[static_cast<size_t>(layer)].get()));
  if (!dir.valid()) fail_errno("dup");
  bool opaque_above = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    const char* c = parts[i].c_str();
    if (::fstatat(dir.get(), c, st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) fail_errno("stat {}", parts[i]);
      return opaque_above ? Hit::kHidden : Hit::kMissing;
    }
    if (is_whiteout(*st)) return Hit::kHidden;
    bool last = i + 1 == parts.size();
    if (!S_ISDIR(st->st_mode)) {
      if (!last) return Hit::kHidden;  // a non-directory hides what lower layers have beneath it
      if (out) out->reset(::openat(dir.get(), c, O_PATH | O_NOFOLLOW | O_CLOEXEC));
      return Hit::kFound;
    }
    UniqueFd sub(::openat(dir.get(), c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) fail_errno("open {}", parts[i]);
    if (last) {
      if (out) *out = std::move(sub);
      return Hit::kFound;
    }
    opaque_above = opaque_above || is_opaque(sub.get());
    dir = std::move(sub);
  }
  // The layer root itself.
  if (::fstat(dir.get(), st) != 0) fail_errno("stat layer");
  if (out) *out = std::move(dir);
  return Hit::kFound;
}

std::optional<struct stat> LowerLayers::lookup(const std::string& abs) const {
  auto parts = components(abs);
  for (int i = 0; i < static_cast<int>(layers_.size()); ++i) {
    struct stat st;
    Hit h = find(i, parts, &st, nullptr);
    if (h == Hit::kFound) return st;
    if (h == Hit::kHidden) return std::nullopt;
  }
  return std::nullopt;
}

std::set<std::string> LowerLayers::children(const std::string& abs) const {
  auto parts = components(abs);
  std::set<std::string> names, gone;
  for (int i = 0; i < static_cast<int>(layers_.size()); ++i) {
    struct stat st;
    UniqueFd fd;
    Hit h = find(i, parts, &st, &fd);
    if (h == Hit::kHidden || (h == Hit::kFound && !S_ISDIR(st.st_mode))) break;
    if (h == Hit::kMissing) continue;
    for (const auto& n : list_dir(fd.get())) {
      struct stat cs;
      if (::fstatat(fd.get(), n.c_str(), &cs, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (is_whiteout(cs)) {
        gone.insert(n);
      } else if (!gone.count(n)) {
        names.insert(n);
      }
    }
    if (is_opaque(fd.get())) break;
  }
  return names;
}

bool is_runtime_placeholder(const std::string& abs, const struct stat& st, int dir_fd, const LowerLayers& lower) {
  if (!is_init_path(abs)) return false;
  bool empty = S_ISLNK(st.st_mode) || (S_ISREG(st.st_mode) && st.st_size == 0);
  if (S_ISDIR(st.st_mode)) {
    std::string base = abs.substr(abs.rfind('/') + 1);
    UniqueFd fd(::openat(dir_fd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    empty = fd.valid() && list_dir(fd.get()).empty();
  }
  return empty && !lower.lookup(abs);
}

std::vector<Change> compute_changes(const std::string& upper_dir, const LowerLayers& lower) {
  UniqueFd root(::open(upper_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) fail_errno("open {}", upper_dir);
  ChangeWalker w(lower);
  w.walk(root.get(), "/", false);
  std::stable_sort(w.out.begin(), w.out.end(), [](const Change& a, const Change& b) { return a.path < b.path; });
  return std::move(w.out);
}

LowerLayers image_lower_layers(Engine& eng, const std::string& image_id) {
  image::ImageRecord img = eng.images().get(image::Digest::parse(image_id));
  std::vector<std::string> dirs;
  auto chain = img.chain_ids();
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) dirs.push_back(eng.snapshots().fs_path(*it));
  return LowerLayers(dirs);
}

std::vector<Change> container_changes(Engine& eng, const std::string& ref) {
  Container c = eng.get(ref);
  return compute_changes(eng.upper_dir(c.id), image_lower_layers(eng, c.image_id));
}

}  // namespace berth::engine
