// Layer tars: unpack one (plain, gzip or zstd; auto-detected) into a
// directory safely, and write a directory back out as an uncompressed tar.
//
// Unpack contract: nothing outside `dest` is ever created, changed or
// followed. Entry paths are cleaned ("/abs" becomes "abs"); a ".." that
// climbs out of the root, a relative symlink whose target climbs out of the
// root, a hardlink whose target does, device nodes when not allowed, names
// too long, and malformed headers all throw
//   "layer <name>: entry <path>: <why>".
// Parents are resolved inside dest with openat2(RESOLVE_IN_ROOT), so symlinks
// created by earlier entries (`a -> /etc` then `a/passwd`) lead to dest/etc,
// never to the host; entries are created with *at() calls relative to the
// resolved parent. uid/gid, mode (incl. setuid), mtimes, xattrs and
// hardlinks are preserved. Whiteouts become overlayfs whiteouts: ".wh.<n>" a
// 0:0 char device <n>, ".wh..wh..opq" the xattr trusted.overlay.opaque=y on
// its directory. While extracting, the diff_id (sha256 of the uncompressed
// tar) and the digest of the raw input stream are computed.
//
// write_layer_tar: entries in byte-wise name order, mtimes in whole seconds,
// numeric owners only, overlay whiteouts turned back into ".wh." files: the
// same tree always gives the same bytes.
//
// The same reader and writer serve `docker cp`, export and commit, which need
// a few departures from layer semantics (UnpackOptions / TarOptions below):
// ".wh." names kept as plain files, the destination root left alone, fixed
// owners, pseudo file systems not descended into.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "image/digest.h"

namespace berth::image {

struct UnpackOptions {
  // Shown in error messages, e.g. the layer's digest.
  std::string name = "layer";
  // Char/block device entries (whiteouts are always allowed). Docker allows
  // them when running as root.
  bool allow_devices = ::geteuid() == 0;
  // chown entries to their uid/gid; without it files belong to the caller.
  bool preserve_owner = ::geteuid() == 0;
  // Convert ".wh." entries into overlay whiteouts. Off for `docker cp`,
  // where such names are ordinary files.
  bool whiteouts = true;
  // Apply a "." entry's metadata to dest itself. Off for `docker cp`
  // (dockerd skips the root entry when extracting into a directory).
  bool root_entry = true;
  // Refuse to replace a directory by a non-directory and vice versa
  // (docker cp's noOverwriteDirNonDir): "cannot overwrite ...".
  bool no_overwrite_dir_nondir = false;
  // Owner for every entry instead of the tar's (docker cp -a into a
  // container with a User); implies chown.
  std::optional<std::pair<uid_t, gid_t>> owner;
};

struct LayerDigests {
  Digest diff_id;        // sha256 of the uncompressed tar
  Digest digest;         // sha256 of the input stream exactly as read
  uint64_t size;         // bytes of input stream
  uint64_t tar_size;     // bytes of uncompressed tar
};

// Reads in_fd to EOF and unpacks it into dest (an existing directory).
LayerDigests unpack_layer(int in_fd, const std::string& dest, const UnpackOptions& opts = {});

struct TarOptions {
  // Overlay whiteouts (0:0 char devices, the opaque xattr) become ".wh."
  // entries: on for layer diffs (an upper dir), off for whole trees.
  bool overlay_whiteouts = true;
  // Do not descend into proc, sysfs, cgroup, devpts, mqueue, debugfs and
  // similar mounts met inside the tree (their mountpoint is still written):
  // a running container's root seen through /proc/<pid>/root.
  bool skip_pseudo_fs = false;
  // Entries for which this returns true are left out (and not descended
  // into). rel is the path below the tree's root ("etc/hostname"); dir_fd
  // is the entry's directory.
  std::function<bool(const std::string& rel, const struct stat& st, int dir_fd)> skip;
};

// Writes dir's contents (not dir itself) as an uncompressed pax/ustar tar to out_fd.
void write_layer_tar(const std::string& dir, int out_fd, const TarOptions& opts = {});

// Writes one object and, for a directory, everything beneath it: the entry
// `base` of dir_fd (a symlink is written as a symlink), or dir_fd itself
// when base is "" or ".". It is named `name`, its children `name/child`
// (`/child` when name is "/"), as docker's TarResourceRebase names them.
void write_path_tar(int dir_fd, const std::string& base, const std::string& name, int out_fd,
                    const TarOptions& opts = {});

}  // namespace berth::image
