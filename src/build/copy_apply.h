// Executing a COPY/ADD plan (copy_sources.h) into an image's root directory
// (the merged directory of the overlay the builder mounted), as BuildKit's
// file backend does.
//
// Confinement: every destination is resolved inside `root` as if it were
// "/" (openat2 RESOLVE_IN_ROOT, or component-wise *at() calls with
// O_NOFOLLOW): symlinks already in the image, absolute or climbing, lead to
// places inside root, never outside. Missing parents are created 0755,
// owned by the --chown owner (0:0 without one).
//
// Per item: an item with name_if_dir goes to dest/name_if_dir when dest is an
// existing directory (symlinks followed within root). Files get their
// content, mode (or --chmod), owner (--chown, else 0:0) and the source's
// atime/mtime; an existing non-directory at the destination is replaced, an
// existing directory is an error ("cannot replace directory /x with file",
// BuildKit's check); a symlink at a file's destination is replaced, not
// followed. Directories get mode, owner and (once their contents are
// written) times; an existing one takes the metadata unless ensure_only, and
// a non-directory in the way is an error. Symlinks keep their target as
// stored; hard links become links to the earlier item's destination; fifos and
// devices are made with mknod.
//
// ADD (extract_archives): a regular file named directly by a source (not one
// met below a copied directory) that is a tar, plain or gzip/bzip2/xz/zstd
// compressed (moby's IsArchivePath: a valid first tar header after
// decompression), is unpacked into the destination as written: `ADD a.tar /d`
// and `ADD a.tar /d/` both unpack into /d. Tar owners, modes and times are
// kept; --chown overrides the owners (BuildKit >= 0.23). CopyItem::named
// says which files a source named.
//
// Fast path (ApplyOptions::upper): creating files through overlayfs costs
// about 2.5x what it costs on the upper file system itself. A directory the
// applier creates where the merged view had nothing cannot hide anything of
// a lower layer (overlayfs made it opaque if a whiteout was there), so what
// goes below it is written straight into its counterpart in the upper dir,
// found by the created directory's real path and checked to be the same
// inode. Nothing written there is then looked up through the merged view
// before those directories are left: a hard link with one end outside such
// a tree and an ADD unpacking into one switch the tree back to the merged
// view first, so overlayfs never caches a stale name. The upper dir after
// unmounting is the same with or without the fast path.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "build/copy_sources.h"

namespace berth::build {

struct ApplyOptions {
  // --chown resolved to numbers; without it everything written is 0:0.
  std::optional<std::pair<uid_t, gid_t>> chown;
  // --chmod: permission bits for the files and directories copied (not for
  // ensure_only directories that already exist, nor for parents created).
  std::optional<mode_t> chmod;
  // ADD: unpack local tar archives instead of copying them (see above).
  bool extract_archives = false;
  // The upper dir of the overlay whose merged dir is root (same layout);
  // empty: everything goes through root. Only ever an optimisation: when
  // the counterpart of a new directory cannot be found the merged view is used.
  std::string upper;
  // A file identical to the item's (an earlier layer's copy, in the
  // snapshot store) to hard-link instead of copying, or "". Used only for
  // files written straight into upper, and only when the candidate's size,
  // mode, owner and mtime are what the copy would give; the caller vouches
  // for its content and that nothing ever writes to it (snapshots are
  // immutable). Linking spares the file system an inode per file.
  std::function<std::string(const CopyItem&)> link_source;
};

// Writes every item of plan under root (an existing directory). Throws
// Error naming the destination on failure; items before it stay written.
// Returns how many entries were written directly into opts.upper.
size_t apply_copy_plan(const std::string& root, const CopyPlan& plan, const ApplyOptions& opts = {});

// Whether the file at path is a tar archive ADD would unpack (plain, gzip,
// bzip2, xz or zstd; an empty archive does not count, as in moby).
bool is_tar_archive(const std::string& path);

}  // namespace berth::build
