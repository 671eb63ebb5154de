// VolumeStore: docker's named volumes with the "local" driver, under
// <data-root>/volumes/<name>/ — the data in _data/, the record (driver,
// labels, options, creation time) in volume.json, written atomically.
//
// Contract (moby volume/service and volume/local):
// - Names match [a-zA-Z0-9][a-zA-Z0-9_.-]+; create() with an empty name
//   makes an anonymous volume: a random 64-hex name and the label
//   com.docker.volume.anonymous. Creating an existing name returns the
//   volume as it is. Only the "local" driver exists; any other is
//   NotFoundError "create <name>: error looking up volume plugin <driver>:
//   plugin "<driver>" not found". Local options are type, device and o
//   (type and device need each other, o needs both); "size" needs quotas,
//   which Berth does not have.
// - References: a volume referenced by a container (running or not) cannot
//   be removed: ConflictError "remove <name>: volume is in use - [<ids>]".
//   Nothing is persisted about references: the engine re-adds them from its
//   container records at start-up.
// - mount()/unmount() count the running containers that use a volume. A
//   volume with a "type" or "device" option is mounted (mount(8)-style
//   device, type and o) on _data by its first user and unmounted when the
//   last one leaves; other volumes need nothing.
// - Events: "create" and "destroy" (attribute driver) and "prune"
//   (reclaimed) on the EventLog, as dockerd sends them. The engine sends
//   "mount" and "unmount": it knows the container's side.
// - Errors are docker's: NotFoundError "get <name>: no such volume",
//   InvalidArgumentError "create <name>: ..." for bad names and options.
// - Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/events.h"

namespace berth::engine {

using StringMap = std::map<std::string, std::string>;

// The label docker (23+) puts on volumes created without a name.
inline constexpr const char* kAnonymousVolumeLabel = "com.docker.volume.anonymous";

struct Volume {
  std::string name;
  std::string driver = "local";
  // As given at creation: docker shows null for none and {} for an empty map.
  std::optional<StringMap> labels;
  std::optional<StringMap> options;
  std::string created_at;  // RFC 3339, seconds, local time zone (docker's CreatedAt)
  std::string mountpoint;  // <data-root>/volumes/<name>/_data

  bool has_label(const std::string& key) const { return labels && labels->count(key); }
  // Options that make the local driver mount something (type or device).
  bool needs_mount() const;
};

// Throws InvalidArgumentError "create <name>: ..." unless name is a valid local volume name.
void validate_volume_name(const std::string& name);
// Throws InvalidArgumentError "create <name>: ..." for options the local driver refuses.
void validate_local_options(const std::string& name, const StringMap& opts);

// Bytes used below path (regular files and symlinks, hard links once), as docker's directory.Size.
uint64_t disk_usage(const std::string& path);

class VolumeStore {
 public:
  VolumeStore(const std::string& data_root, EventLog& events);
  VolumeStore(const VolumeStore&) = delete;
  VolumeStore& operator=(const VolumeStore&) = delete;

  struct CreateOptions {
    std::string driver;  // "" is "local"
    std::optional<StringMap> options;
    std::optional<StringMap> labels;
    std::string ref;  // a container that holds the volume from now on, or ""
  };
  // See the contract. Returns the created (or existing) volume.
  Volume create(const std::string& name, const CreateOptions& opts);
  Volume get(const std::string& name) const;
  // Every volume, by name.
  std::vector<Volume> list() const;

  // Adds ref as a user of name (NotFoundError when it does not exist).
  void add_ref(const std::string& name, const std::string& ref);
  // Drops ref's reference to name; unknown names are ignored.
  void release(const std::string& name, const std::string& ref);
  std::set<std::string> refs(const std::string& name) const;

  // Removes the volume and its data. Missing: NotFoundError, or nothing with force.
  void remove(const std::string& name, bool force);

  // The data directory to bind, mounting the volume first if it needs it
  // and nobody has it mounted. Each mount() by ref is paired with one
  // unmount(), which says whether ref had it mounted.
  std::string mount(const std::string& name, const std::string& ref);
  bool unmount(const std::string& name, const std::string& ref);
  // After a daemon restart: ref (still running) already has name mounted.
  void restore_mount(const std::string& name, const std::string& ref);
  // Unmounts volumes left mounted with no user (say, by a daemon that died).
  void unmount_unused();

  struct PruneReport {
    std::vector<std::string> deleted;
    uint64_t reclaimed = 0;
  };
  // Removes every unreferenced volume without driver options that matches.
  PruneReport prune(const std::function<bool(const Volume&)>& match);

 private:
  struct Entry {
    Volume v;
    std::set<std::string> refs;         // containers that use it
    std::multiset<std::string> mounts;  // running containers that use it
    bool mounted = false;               // a needs_mount() volume is mounted on _data
  };
  std::string volume_dir(const std::string& name) const;
  void load();
  void persist(const Volume& v) const;
  Entry& find_locked(const std::string& name, const std::string& op);
  void mount_locked(Entry& e);
  void unmount_locked(Entry& e);
  void remove_locked(const std::string& name);
  void publish(const std::string& action, const std::string& id, std::map<std::string, std::string> attrs);

  std::string root_;  // <data-root>/volumes
  EventLog& events_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> volumes_;
};

}  // namespace berth::engine
