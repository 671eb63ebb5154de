// Cgroups: one container's cgroup on cgroup v1, v2 or a hybrid host.
//
// Contract: Cgroup::open() detects the host layout from /proc/self/mountinfo
// once and maps the spec's cgroupsPath onto it: on v1 each mounted controller
// hierarchy gets the path; on v2 the unified hierarchy does; on a hybrid host
// (v1 controllers plus a cgroup2 mount holding some controllers, e.g. only
// hugetlb) each controller is driven on whichever hierarchy holds it.
// A cgroupsPath in systemd form ("slice:prefix:name", --systemd-cgroup) is
// mapped to the path systemd would use (slice/prefix-name.scope) and driven
// through cgroupfs directly, since no systemd is required.
// apply() writes only the limits the spec sets; a limit whose controller is
// absent on the host is an Error naming the controller, except where runc
// also ignores it. Every write error names the file and value.
//
// Paths (as runc): an empty cgroupsPath means "<id>" (relative), or
// "system.slice:runc:<id>" with --systemd-cgroup. Absolute paths are below
// each hierarchy's mount point; relative ones below this process's own
// cgroup on v1 hierarchies and below its parent on v2 (the own cgroup holds
// processes, so it cannot delegate controllers). On hybrid hosts the process
// also joins the unified hierarchy, and controllers available there are
// enabled in cgroup.subtree_control of every ancestor by create().
//
// Values (as runc): zero memory/cpu/blkio values mean "unset"; pids limit 0
// or -1 is "max"; kernel memory limits are written only where the kernel
// still has them. Device rules are applied in order to a deny-all start with
// v1 semantics (v1 devices.deny/allow, else a v2 BPF device program); an
// empty list leaves devices alone, so the caller appends runc's default
// allow list. linux.resources.unified needs a cgroup2 hierarchy (on hybrid
// hosts only for the controllers it holds) and is written last.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"

namespace berth::runtime {

class Cgroup {
 public:
  // cgroups_path: the spec's linux.cgroupsPath ("" -> default for id).
  static std::unique_ptr<Cgroup> open(const std::string& cgroups_path, const std::string& id, bool systemd);
  // Re-opens a cgroup from the paths saved by paths() (after create exits).
  static std::unique_ptr<Cgroup> from_paths(const std::map<std::string, std::string>& paths);
  virtual ~Cgroup() = default;

  // Creates the directories (mkdir -p) on every hierarchy in use.
  virtual void create() = 0;
  // Writes the limits (create and update).
  virtual void apply(const oci::Resources& res) = 0;
  // Moves pid into the cgroup on every hierarchy (only the cgroup2 one with
  // v2_only, after enter_v1_self() covered the rest).
  virtual void add_process(pid_t pid, bool v2_only = false) = 0;
  // Moves the calling thread (the runtime is single-threaded) into the cgroup
  // on every v1 hierarchy, so a child it forks starts there, and returns the
  // directories it left, for leave_v1_self(). It writes "0" to `tasks`: unlike
  // a cgroup.procs write, moving only the caller's own thread skips the
  // kernel's global threadgroup lock, whose synchronize_rcu() otherwise costs
  // several milliseconds per container on v1 hosts.
  virtual std::vector<std::string> enter_v1_self() = 0;
  static void leave_v1_self(const std::vector<std::string>& previous_dirs);
  // The container's directory on the cgroup2 hierarchy, "" if none. A child
  // cloned with CLONE_INTO_CGROUP there needs no cgroup.procs write at all.
  virtual std::string v2_dir() const = 0;
  // Freezer; freeze() returns once the kernel reports FROZEN.
  virtual void freeze() = 0;
  virtual void thaw() = 0;
  virtual bool frozen() = 0;
  // Every pid in the cgroup (and its descendants).
  virtual std::vector<pid_t> pids() = 0;
  // runc's `events --stats` "data" object: cpu, memory, pids, blkio, hugetlb.
  virtual nlohmann::json stats() = 0;
  // Removes the directories; retries briefly while processes exit.
  virtual void destroy() = 0;
  // controller name -> absolute directory, runc's state.json "cgroup_paths":
  // v1 controllers and "name=systemd", "" for the unified hierarchy (plus, on
  // hybrid hosts, the controllers driven there, e.g. "hugetlb").
  // from_paths() also accepts "unified" for "".
  virtual std::map<std::string, std::string> paths() const = 0;
};

}  // namespace berth::runtime
