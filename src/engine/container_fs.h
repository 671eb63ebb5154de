// The file-system side of `docker cp` and `docker export`: stat, archive and
// extract paths inside a container's root, as dockerd's daemon/archive*.go.
//
// Contract:
// - Paths are what the API receives, taken as absolute in the container
//   ("tmp/x" is "/tmp/x"); a trailing "/" or "/." is significant, as in
//   docker. Every lookup is confined to the root (openat2 RESOLVE_IN_ROOT):
//   "..", absolute and relative symlinks never leave it.
// - stat and archive resolve the parent of the last element (symlinks
//   followed in the root) but not the last element itself, so a symlink is
//   reported and archived as a symlink; its linkTarget is the link fully
//   resolved in the root. Archive entries are named after the requested
//   path's last element (docker's TarResourceRebase): "/etc/hostname" ->
//   "hostname", "/tmp/d/." -> "./", "./x".
// - extract resolves the whole path (a symlink to a directory is fine); it
//   must be a directory ("extraction point is not a directory", 400). The
//   tar is unpacked with layer.h's confinement (entries that climb out, or
//   whose relative symlink targets do, are refused) but without whiteout
//   conversion; owners are the tar's, or the container user's with
//   copy_uid_gid.
// - A missing path is NotFoundError "Could not find the file <path> in
//   container <ref>", with path and ref as the caller gave them.
// - ContainerFs sees what the container sees: a running container through
//   /proc/<pid>/root (its volumes and /etc/hosts binds included; proc,
//   sysfs and the like not descended into), a stopped one through its
//   overlay mount.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "engine/container.h"

namespace berth::engine {

class Engine;

// Go's os.FileMode for a st_mode: permission bits plus ModeDir, ModeSymlink,
// ModeDevice, ModeCharDevice, ModeNamedPipe, ModeSocket, ModeSetuid,
// ModeSetgid, ModeSticky at Go's bit positions.
uint32_t go_file_mode(uint32_t st_mode);

// docker's ContainerPathStat.
struct PathStat {
  std::string name;         // last element of the requested path ("/" for the root)
  int64_t size = 0;
  uint32_t mode = 0;        // go_file_mode
  std::string mtime;        // RFC 3339 nano, UTC
  std::string link_target;  // symlinks only: the target resolved in the root, absolute

  // {"name","size","mode","mtime","linkTarget"}: the X-Docker-Container-Path-Stat JSON.
  nlohmann::ordered_json to_json() const;
};

// The requested path split the way docker's ResolvePath does: dir is the
// parent directory resolved in the root (O_PATH), base the last element
// ("" after a trailing "/", "." for "/."), name what archive entries are
// called. Throws NotFoundError "no such file" when a parent is missing.
struct ResolvedPath {
  UniqueFd dir;
  std::string base;
  std::string name;
};
ResolvedPath resolve_path(int root_fd, const std::string& path);

// Follows every symlink of abs (absolute, in the root) inside the root, like
// Go's FollowSymlinkInScope; missing components are kept lexically.
std::string resolve_in_scope(int root_fd, const std::string& abs);

// Throw NotFoundError "no such file" for a missing path.
PathStat stat_path(int root_fd, const std::string& path);
void archive_path(int root_fd, const std::string& path, int out_fd, bool skip_pseudo_fs);

struct ExtractOptions {
  bool no_overwrite_dir_nondir = false;
  bool copy_uid_gid = false;  // chown to the container's User (when it has one)
};
// The directory to extract into (O_PATH). NotFoundError "no such file";
// InvalidArgumentError "extraction point is not a directory".
UniqueFd extraction_dir(int root_fd, const std::string& path);
// Unpacks the tar on in_fd into directory path of the root (see contract);
// owner, when given, replaces the tar's owners. A refused or malformed tar
// is InvalidArgumentError.
void extract_archive(int root_fd, const std::string& path, int in_fd, bool no_overwrite_dir_nondir,
                     std::optional<std::pair<uid_t, gid_t>> owner = std::nullopt);

class ContainerFs {
 public:
  // Opens ref's root (see contract); NotFoundError for an unknown container.
  ContainerFs(Engine& eng, const std::string& ref);

  const Container& container() const { return c_; }
  PathStat stat(const std::string& path) const;
  // Writes the tar of path to out_fd. Call stat() first for the header.
  void archive(const std::string& path, int out_fd) const;
  // Reads a tar (plain or compressed) from in_fd to EOF into directory path.
  void extract(const std::string& path, int in_fd, const ExtractOptions& opts) const;

 private:
  [[noreturn]] void not_found(const std::string& path) const;

  std::string ref_;
  Container c_;
  bool live_ = false;  // root_ is /proc/<pid>/root of the running container
  UniqueFd root_;
};

// Publishes a container event with docker's actor attributes (image, name,
// labels) plus extra: "archive-path", "extract-to-dir", "export", "commit".
void publish_container_event(Engine& eng, const Container& c, const std::string& action,
                             std::map<std::string, std::string> extra = {});

// Writes the container's whole file system (its overlay mount, without
// volumes, as `docker export`) as a tar to out_fd.
void export_container(Engine& eng, const std::string& ref, int out_fd);

}  // namespace berth::engine
