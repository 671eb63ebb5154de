// File-system helpers: whole-file reads and writes, atomic replacement, and
// path resolution confined to a root directory.
//
// Confinement contract: *_in_root functions resolve every component of `path`
// (absolute or relative) as if `root` were "/": "..", absolute symlinks and
// relative symlinks that climb out all stay inside root (openat2
// RESOLVE_IN_ROOT). Magic links (/proc/self/fd/*) are never followed. The
// returned descriptor names the object actually resolved, so later operations
// on it (mount via /proc/self/fd, fchmod, ...) cannot be redirected by a
// symlink swapped in after resolution.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "base/fd.h"

namespace berth {

std::string read_file(const std::string& path);
// Reads an already open descriptor (e.g. stdin) to EOF.
std::string read_fd(int fd, const std::string& name);
// Reads fd to EOF, handing each chunk to sink (for streaming consumers such
// as hashers); `name` is for errors ("read <name>: ...").
void read_chunks(int fd, const std::string& name, const std::function<void(const char*, size_t)>& sink);
// Writes all of data, retrying short writes and EINTR; `name` is for errors.
void write_all_fd(int fd, std::string_view data, const std::string& name);
// Returns false (and leaves *out untouched) if the file does not exist.
bool read_file_if_exists(const std::string& path, std::string* out);
void write_file(const std::string& path, std::string_view data, mode_t mode = 0644);
// Writes to a temporary sibling, fsyncs, renames over path: readers see the
// old or the new content, never a mix, even after a crash.
void write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);
// The same without the fsync: readers never see a partial file, but a crash
// may lose the update. For run-time state that dies with the machine anyway
// (files under /run, pid files, the runtime's records): an fsync costs
// milliseconds per file on some disks and makes a later unlink slower too.
void write_file_replace(const std::string& path, std::string_view data, mode_t mode = 0644);
void mkdir_all(const std::string& path, mode_t mode = 0755);
bool path_exists(const std::string& path);
// Removes path and everything beneath it; missing path is not an error.
void remove_all(const std::string& path);

// Lexically cleans a path: collapses "//", ".", and "..", keeps it absolute if it was.
std::string clean_path(std::string_view path);
std::string path_join(std::string_view a, std::string_view b);

// Opens path inside root_fd (see contract above). flags are open(2) flags.
UniqueFd open_in_root(int root_fd, std::string_view path, int flags, mode_t mode = 0);
// Same, but returns an invalid fd with errno set instead of throwing, for
// paths that may legitimately be absent (throwing is costly in a static binary).
UniqueFd try_open_in_root(int root_fd, std::string_view path, int flags, mode_t mode = 0);
// Creates every missing directory of path inside root_fd and returns an
// O_PATH descriptor of the last one. Symlinks on the way are followed inside
// root, and their missing targets are created there too (as runc's
// securejoin.MkdirAll does).
UniqueFd mkdir_all_in_root(int root_fd, std::string_view path, mode_t mode = 0755);
// Like mkdir_all_in_root, but with leaf_is_file the last component is
// created as an empty regular file (0644) when missing.
UniqueFd create_in_root(int root_fd, std::string_view path, bool leaf_is_file, mode_t mode = 0755);
// "/proc/self/fd/N" for an open descriptor; mount(2) accepts it as a path
// that refers to exactly that object.
std::string fd_path(int fd);

}  // namespace berth
