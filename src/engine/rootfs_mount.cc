#include "engine/rootfs_mount.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>

#include "base/error.h"
#include "base/fs.h"

namespace berth::engine {

RootfsPaths rootfs_paths(const std::string& container_dir) {
  std::string r = path_join(container_dir, "rootfs");
  return {path_join(r, "upper"), path_join(r, "work"), path_join(r, "merged")};
}

bool is_mounted(const std::string& path) {
  // A mount point's device differs from its parent's, or (bind of the same
  // fs) its mount id does; statx's STATX_ATTR_MOUNT_ROOT answers both.
  struct statx st{};
  if (statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) != 0) return false;
  return (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

void mount_rootfs(const RootfsPaths& p, const std::string& lowerdir) {
  mkdir_all(p.upper, 0755);
  mkdir_all(p.work, 0700);
  mkdir_all(p.merged, 0755);
  if (is_mounted(p.merged)) return;
  std::string data = "lowerdir=" + lowerdir + ",upperdir=" + p.upper + ",workdir=" + p.work;
  // The kernel takes at most one page of mount data.
  if (data.size() >= 4096) fail("mount rootfs {}: too many layers for one overlay mount", p.merged);
  if (::mount("overlay", p.merged.c_str(), "overlay", 0, data.c_str()) != 0)
    fail_errno("mount overlay rootfs at {}", p.merged);
}

void unmount_rootfs(const RootfsPaths& p) {
  if (::umount2(p.merged.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    fail_errno("unmount {}", p.merged);
}

}  // namespace berth::engine
