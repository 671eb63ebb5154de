// A container's root filesystem: an overlay of its image's layer snapshots
// (read-only lowerdirs) and a private upper dir, under
// <data-root>/containers/<id>/rootfs/{upper,work,merged}.
//
// Contract: mount() is idempotent (an existing overlay at merged is kept,
// so a restarted daemon finds running containers' roots intact); unmount()
// detaches lazily and ignores "not mounted". The upper dir holds the
// container's changes (docker diff / commit / export read it).
#pragma once

#include <string>

namespace berth::engine {

struct RootfsPaths {
  std::string upper, work, merged;
};

RootfsPaths rootfs_paths(const std::string& container_dir);
// lowerdir: overlay's "lowerdir=" value (top layer first), see SnapshotStore.
void mount_rootfs(const RootfsPaths& p, const std::string& lowerdir);
void unmount_rootfs(const RootfsPaths& p);
bool is_mounted(const std::string& path);

}  // namespace berth::engine
