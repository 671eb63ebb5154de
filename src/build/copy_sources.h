// Resolving the local sources of COPY/ADD against an extracted build context
// (BuildKit's rules, docker 28's default builder), into a plan the builder
// executes and a content digest for its cache key.
//
// Sources (after variable expansion) are paths in the context: each is
// cleaned as if the context were "/", so "../../x" and "/x" both name "x" and
// nothing outside the context is reachable. A source whose path has a
// wildcard segment ('*', '?' or '[' not escaped by '\') is matched with
// filepath_match against the context's entries below the literal part, in
// walk order (names sorted byte-wise, parents before children); a wildcard
// that matches nothing, or whose directory is missing, adds nothing
// (BuildKit's AllowEmptyWildcard); a malformed one is an Error
// (`COPY source "x[": bad pattern "x[": syntax error in pattern`) where
// BuildKit would silently match nothing. A literal source that does not
// exist, or that the .dockerignore hides, throws Error with BuildKit's wording:
//   failed to compute cache key: failed to calculate checksum of ref context: "/x": not found
// (BuildKit prints an internal ref id where we print "context").
//
// Symlinks: a source path itself, literal or matched by a wildcard, is
// followed in every component, confined to the context (an absolute or
// climbing target resolves inside it, as BuildKit's FollowSymlinks and
// fs.RootPath do): `COPY link /dst` where link -> file copies the file's
// content to /dst, and a link to a directory copies that directory's contents.
// A dangling source link is "not found". Below a copied directory nothing is
// followed: symlinks are planned as symlinks with their target unchanged.
//
// Destination (relative ones are relative to workdir; the result is cleaned):
//  - a source that is a directory copies its CONTENTS into the destination,
//    which is a directory whether or not it ends in "/";
//  - any other source goes to <dest>/<source name> when the destination is a
//    directory by its spelling (ends in "/", or is "." or ends in "/." or
//    ".."), else to <dest> itself; then the item carries name_if_dir, because
//    docker puts it inside <dest> if <dest> is an existing directory in the
//    image (the executor checks, following symlinks within the image root);
//  - more than one resolved source (several arguments, or a wildcard with
//    several matches) needs a directory destination, else Error
//    "When using COPY with more than one source file, the destination must be
//    a directory and end with a /" (the classic builder's rule; BuildKit
//    silently lets the sources overwrite each other). "." counts as a
//    directory here, as it does in BuildKit (`COPY *.py .` works).
//
// The plan lists items in execution order: for each resolved source in
// argument order, a directory source first ensures the destination directory
// (ensure_only: created 0755 when missing, an existing one keeps its metadata,
// as BuildKit does) and then lists every entry below it, parents first, names
// sorted. Entries keep their mode (permission bits with setuid/setgid/sticky);
// ownership, times and xattrs are the executor's business. Regular files that
// share an inode with an earlier item carry hardlink_to (that item's dest) so
// the executor can link them as cp -a and BuildKit do. Sockets are skipped
// (docker cannot send them); fifos and devices are `special` items.
//
// digest is sha256 over the plan: per item its kind, destination path, mode
// bits, symlink target, device number, hard-link target and a digest of its
// content, in plan order. Modification times, ownership and where the context
// lives do not count, and ignored files are not in the plan, so the digest
// changes exactly when what the plan would write changes. It is a cache key,
// not an OCI digest: a file's content digest is its sha256, or for files over
// 8 MiB the sha256 of the sha256s of its 8 MiB pieces, so that one big file
// can be hashed on several threads. Hashing runs on up to `hash_threads`
// threads while the context is walked (50 MiB + 2,000 small files: ~21 ms on
// 2 threads, ~41 ms on 1, page cache warm, SHA-NI).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "build/dockerignore.h"
#include "image/digest.h"

namespace berth::build {

enum class CopyKind { file, dir, symlink, special };

struct CopyItem {
  CopyKind kind = CopyKind::file;
  std::string source;       // absolute path on disk; "" for an ensure_only dir
  std::string dest;         // absolute, clean path in the image
  mode_t mode = 0;          // st_mode of the source (type and all 07777 bits)
  std::string link_target;  // symlink: target as stored
  dev_t rdev = 0;           // special: device number
  std::string hardlink_to;  // file: dest of an earlier item, same inode
  std::string name_if_dir;  // see contract: use dest/name_if_dir if dest is a dir
  bool ensure_only = false; // dir: create if missing, leave an existing one alone
  bool named = false;       // a source argument named this entry itself (ADD unpacks only those)
  std::string digest;       // file: its content digest as the plan computed it (see below)
};

struct CopyPlan {
  std::vector<CopyItem> items;
  image::Digest digest = image::sha256_of("");
};

struct CopyRequest {
  std::string instruction = "COPY";   // "ADD" for messages
  std::vector<std::string> sources;   // local sources, variables expanded
  std::string dest;                   // as written, variables expanded
  std::string workdir = "/";          // the image's WORKDIR
};

// File content digests remembered across plans (a daemon keeps one for all
// builds), keyed by what changes whenever a file's bytes may have: device,
// inode, size, mtime and ctime (which a write always moves, and which
// utime cannot set back). A warm build then reads no file contents.
// File times come from a coarse clock (a few ms), so a file changed twice in
// one tick keeps its times: files changed less than min_age_seconds ago are
// not remembered (git's "racily clean" rule). Thread-safe; forgets
// everything when it grows past max_entries.
class DigestCache {
 public:
  explicit DigestCache(long min_age_seconds = 2, size_t max_entries = 1 << 20)
      : min_age_(min_age_seconds), max_(max_entries) {}
  std::optional<std::string> find(const struct stat& st) const;
  void store(const struct stat& st, std::string hex);
  size_t size() const;

 private:
  using Key = std::tuple<dev_t, ino_t, off_t, long, long, long, long>;
  static Key key(const struct stat& st);
  mutable std::mutex mu_;
  std::map<Key, std::string> map_;
  long min_age_;
  size_t max_;
};

struct CopyOptions {
  // Hides excluded context entries (see dockerignore.h for what stays
  // visible); nullptr when the context on disk is already filtered.
  const DockerIgnore* ignore = nullptr;
  int hash_threads = 2;
  DigestCache* digests = nullptr;  // optional: contents hashed before are not read again
};

// Throws Error as described above, or for unreadable context entries.
CopyPlan plan_copy(const std::string& context_root, const CopyRequest& request, const CopyOptions& options = {});

}  // namespace berth::build
