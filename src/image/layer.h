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
#pragma once

#include <unistd.h>

#include <cstdint>
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
};

struct LayerDigests {
  Digest diff_id;        // sha256 of the uncompressed tar
  Digest digest;         // sha256 of the input stream exactly as read
  uint64_t size;         // bytes of input stream
  uint64_t tar_size;     // bytes of uncompressed tar
};

// Reads in_fd to EOF and unpacks it into dest (an existing directory).
LayerDigests unpack_layer(int in_fd, const std::string& dest, const UnpackOptions& opts = {});

// Writes dir's contents (not dir itself) as an uncompressed pax/ustar tar to out_fd.
void write_layer_tar(const std::string& dir, int out_fd);

}  // namespace berth::image
