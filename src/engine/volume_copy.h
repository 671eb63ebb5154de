// Filling a new volume from the image, as docker does the first time an
// empty volume is mounted over a path the image has content at
// (container.CopyImagePathContent: copyExistingContents + copyOwnership).
//
// Contract: copy_image_content() copies the directory at `path` inside
// `rootfs` (resolved in the root: symlinks never leave it) into
// `volume_dir` — every entry with its owner, mode, times and extended
// attributes; symlinks as symlinks, hard links as hard links, devices,
// fifos and sockets as nodes — and gives volume_dir the directory's own
// owner and mode. It copies nothing, and returns false, when volume_dir is
// not empty or the image has no directory at path.
#pragma once

#include <string>

namespace berth::engine {

bool copy_image_content(const std::string& rootfs, const std::string& path, const std::string& volume_dir);

}  // namespace berth::engine
