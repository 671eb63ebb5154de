// StateStore: the runtime's record of each container under --root
// (default /run/berth-runtime), one directory per id:
//   <root>/<id>/state.json   ContainerRecord (written atomically)
//   <root>/<id>/config.json  the bundle's config as it was at create
//   <root>/<id>/exec.fifo    present while the container is "created"
//
// Contract: create_dir() is the single point that claims an id (mkdir is
// atomic), so two concurrent creates of one id cannot both succeed.
// Status is derived, never stored: a dead or reused pid is "stopped", a
// present exec.fifo is "created", a frozen cgroup is "paused".
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"
#include "oci/state.h"

namespace berth::runtime {

struct ContainerRecord {
  std::string id;
  int pid = 0;
  unsigned long long pid_start_time = 0;  // /proc/<pid>/stat field 22, against pid reuse
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339 with nanoseconds, UTC
  std::string owner;
  std::string oci_version;
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> cgroup_paths;
  bool new_pid_namespace = true;
};

class StateStore {
 public:
  explicit StateStore(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string dir(const std::string& id) const;
  std::string fifo_path(const std::string& id) const { return dir(id) + "/exec.fifo"; }

  // Claims the id; Error "container with id exists: <id>" if taken.
  void create_dir(const std::string& id) const;
  void save(const ContainerRecord& rec) const;
  // Error "container <id> does not exist" if absent.
  ContainerRecord load(const std::string& id) const;
  void save_config(const std::string& id, const std::string& config_text) const;
  oci::Spec load_config(const std::string& id) const;
  std::vector<std::string> list_ids() const;
  void remove(const std::string& id) const;

 private:
  std::string root_;
};

// Compiled seccomp programs shared by the containers of one --root
// (SeccompFilter::compile); "." keeps it out of list_ids()'s way.
inline std::string seccomp_cache_dir(const StateStore& store) { return store.root() + "/.seccomp-cache"; }

// Validates a container id the way runc does: [A-Za-z0-9_+.-]+, not "." or "..".
void validate_container_id(const std::string& id);

// Derived status of a recorded container.
oci::Status container_status(const StateStore& store, const ContainerRecord& rec);
bool process_alive(int pid, unsigned long long start_time);
unsigned long long process_start_time(int pid);  // 0 if gone

// The JSON `state` prints and `list --format json` lists (runc's shape).
nlohmann::json state_json(const ContainerRecord& rec, oci::Status status);
oci::State oci_state(const ContainerRecord& rec, oci::Status status);
// The runtime-spec "container process state" a seccomp agent receives with
// the notify fd: {ociVersion, fds: ["seccompFd"], pid, metadata, state}.
nlohmann::json container_process_state(const std::string& oci_version, int pid, const std::string& metadata,
                                       nlohmann::json state);

}  // namespace berth::runtime
