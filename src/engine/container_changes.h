// `docker diff`: what a container changed, read from its overlay upper dir
// against the image's layer snapshots (the overlay lowerdirs).
//
// Contract (the shape dockerd reports, /containers/{id}/changes):
// - An overlay whiteout (0:0 char device) is Deleted. A path in the upper
//   dir that exists in the lower stack is Modified, one that does not is
//   Added (an added directory's contents are listed too). An opaque
//   directory that replaced a lower one is Modified, and the lower
//   children it hides are Deleted.
// - A directory that exists below is listed as Modified only when
//   something beneath it changed or its mode or owner did (copy-up alone
//   and mtimes do not count, as in docker's naive diff).
// - The runtime's mountpoints that docker keeps in its init layer (/proc,
//   /sys, /dev/pts, /dev/shm, /etc/hosts, /etc/hostname, /etc/resolv.conf,
//   /.dockerenv, ...) are not changes when they are empty placeholders
//   absent from the image; commit leaves them out for the same reason.
// - Sorted by path; paths are absolute.
// - The lower stack is read like overlayfs does: a whiteout or a non-dir
//   hides the same path (and everything beneath) in lower layers, an opaque
//   directory hides the lower layers' contents. Nothing is followed out of
//   a layer: components are opened one by one with O_NOFOLLOW.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/fd.h"

namespace berth::engine {

class Engine;

enum class ChangeKind { kModified = 0, kAdded = 1, kDeleted = 2 };

struct Change {
  std::string path;
  ChangeKind kind;
  friend bool operator==(const Change&, const Change&) = default;
};

// The image's layer directories as overlay stacks them, top layer first.
class LowerLayers {
 public:
  explicit LowerLayers(const std::vector<std::string>& dirs_top_first);

  // The object at abs ("/etc/passwd") as the merged lower layers show it.
  std::optional<struct stat> lookup(const std::string& abs) const;
  // The names in directory abs of the merged lower layers.
  std::set<std::string> children(const std::string& abs) const;

 private:
  enum class Hit { kFound, kMissing, kHidden };
  // Looks abs up in one layer; *fd gets the object (O_RDONLY for a
  // directory, O_PATH otherwise) when found.
  Hit find(int layer, const std::vector<std::string>& parts, struct stat* st, UniqueFd* fd) const;

  std::vector<UniqueFd> layers_;
};

// An empty mountpoint placeholder the runtime created (see contract).
bool is_runtime_placeholder(const std::string& abs, const struct stat& st, int dir_fd, const LowerLayers& lower);

std::vector<Change> compute_changes(const std::string& upper_dir, const LowerLayers& lower);

// The lower layers of ref's image (top first) and its changes.
LowerLayers image_lower_layers(Engine& eng, const std::string& image_id);
std::vector<Change> container_changes(Engine& eng, const std::string& ref);

}  // namespace berth::engine
