// Engine's private pieces shared by its .cc files (engine.cc: store,
// restore, exit watcher, restarts; container_lifecycle.cc; container_io.cc;
// exec.cc).
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/fd.h"
#include "engine/engine.h"
#include "engine/health.h"
#include "runtime/cgroups.h"

namespace berth::engine {

struct Engine::PendingAttach {
  UniqueFd fd;
  bool done = false;
  std::string error;
};

struct Engine::Entry {
  Container c;             // guarded by Engine::mu_
  std::mutex op;           // serializes start/stop/remove of this container; taken before mu_
  UniqueFd init_pidfd;     // while running
  UniqueFd shim_pidfd;     // until the shim has exited (it outlives the container by its cleanup)
  int exit_watch = -1;     // inotify watch on the shim's state dir, for exit.json
  uint64_t exits = 0;      // exits observed since the daemon started
  bool removed = false;
  // Set by adopt() for a container whose shim died while no daemon ran: its
  // exit is recorded as any other, but whether it runs again is for the boot
  // pass to decide, with dockerd's restore rules (container.h
  // starts_at_boot), not the restart policy's back-off.
  bool found_dead_at_boot = false;
  int restart_delay_ms = 0;
  std::vector<std::shared_ptr<PendingAttach>> pending_attaches;
  // Probes the healthcheck while running. Taken out under mu_ but destroyed
  // outside it: its thread takes mu_ to record results.
  std::unique_ptr<HealthMonitor> health;
};

struct ExecEntry {
  ExecRecord r;
  std::string exec_dir;  // the container's exec dir: process files, console sockets
  UniqueFd pty;          // a copy of the tty master, for resize
};

// The container's cgroup as its OCI spec names it (linux.cgroupsPath),
// mapped onto this host's hierarchies the way the runtime maps it (the
// same with --systemd-cgroup), whichever runtime created it. Opening reads
// the host layout only; nothing is created.
std::unique_ptr<runtime::Cgroup> open_container_cgroup(const nlohmann::json& spec, const std::string& id,
                                                       const RuntimeSpec& rt);

// Signal names and numbers as docker accepts them ("KILL", "SIGKILL", "9").
int parse_signal(const std::string& s);
pid_t pidfd_target(int pidfd);
int open_pidfd(pid_t pid);  // -1 when the process is gone

}  // namespace berth::engine
