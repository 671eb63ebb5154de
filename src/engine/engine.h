// Engine: the container model berthd serves — containers created from
// images, run through one berth-shim each, their state persisted under
// <data-root>/containers/<id>/ and their runtime state under
// <exec-root>/containers/<id>/.
//
// Contract:
// - Every state change is persisted atomically before it is reported, and
//   published on events(); waiters (wait()) and followers are woken.
// - Containers outlive the daemon: the constructor re-reads every record
//   and re-adopts running containers whose shim is still alive (their
//   exits are then observed as usual); a record that says "running" whose
//   shim is gone is marked exited with the code the shim recorded, or 255.
//   Then, before it returns, it starts what dockerd's restore starts at
//   boot (container.h starts_at_boot), e.g. after a host reboot.
// - References: a full ID, a name (with or without "/"), or an unambiguous
//   ID prefix, as docker resolves them. Unknown -> NotFoundError "No such
//   container: <ref>".
// - Thread-safe; operations on one container are serialized, operations on
//   different containers run in parallel.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "engine/container.h"
#include "engine/errors.h"
#include "engine/events.h"
#include "engine/log_reader.h"
#include "engine/network_controller.h"
#include "engine/oci_spec_builder.h"
#include "engine/stats.h"
#include "engine/volume_store.h"
#include "image/content_store.h"
#include "image/image_store.h"
#include "image/snapshots.h"

namespace berth::engine {

struct HealthConfig;  // engine/health.h

struct RuntimeSpec {
  std::string path;
  std::vector<std::string> args;
};

struct EngineOptions {
  std::string data_root;
  std::string exec_root;
  std::map<std::string, RuntimeSpec> runtimes;
  std::string default_runtime;
  std::string shim_path;  // berth-shim
  std::string init_path;  // berth-init, bind-mounted for HostConfig.Init
  NetworkControllerOptions network;  // data_root and exec_root are filled in by the engine
};

enum class WaitCondition { kNotRunning, kNextExit, kRemoved };

struct WaitResult {
  int exit_code = 0;
  std::string error;
};

// The process side of a started exec: a pty master (tty) or pipes.
struct ExecIo {
  UniqueFd pty;
  UniqueFd stdin_w, stdout_r, stderr_r;
};

struct ExecRecord {
  std::string id;
  std::string container_id;
  nlohmann::json config;  // the create request (Cmd, Env, Tty, AttachStdin, User, WorkingDir, Privileged, ...)
  bool running = false;
  bool started = false;
  std::optional<int> exit_code;
  pid_t pid = 0;  // the runtime exec process
};

class Engine {
 public:
  explicit Engine(EngineOptions opts);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineOptions& options() const { return opts_; }
  image::ContentStore& content() { return content_; }
  image::SnapshotStore& snapshots() { return snapshots_; }
  image::ImageStore& images() { return images_; }
  EventLog& events() { return events_; }
  NetworkController& networks() { return *networks_; }

  // --- containers
  struct Created {
    std::string id;
    std::vector<std::string> warnings;
  };
  // name may be empty (a random one is chosen). config/host_config are the
  // API's ContainerConfig and HostConfig; networking_config its
  // NetworkingConfig ({"EndpointsConfig": {network: EndpointSettings}}).
  Created create(const std::string& name, const nlohmann::json& config, const nlohmann::json& host_config,
                 const nlohmann::json& networking_config = nullptr);
  void start(const std::string& ref);
  // timeout < 0: the container's StopTimeout, else 10 s. signal empty: its StopSignal, else SIGTERM.
  void stop(const std::string& ref, int timeout, const std::string& signal);
  void kill(const std::string& ref, const std::string& signal);
  void restart(const std::string& ref, int timeout);
  void pause(const std::string& ref);
  void unpause(const std::string& ref);
  void remove(const std::string& ref, bool force, bool remove_volumes);
  void rename(const std::string& ref, const std::string& new_name);
  // registered (optional) runs once the wait counts from "now": a client
  // told at that point (dockerd flushes the response headers) may start the
  // container and cannot miss the exit.
  WaitResult wait(const std::string& ref, WaitCondition cond, std::stop_token stop,
                  const std::function<void()>& registered = {});
  Container get(const std::string& ref) const;
  std::vector<Container> list() const;
  // Removes every stopped container; returns their IDs.
  std::vector<std::string> prune(const std::function<bool(const Container&)>& filter);

  // A socket on the container's stdio (see shim.h: multiplexed frames, or
  // raw bytes with a tty). Before the first start it blocks until start()
  // connects it (docker run attaches before it starts).
  // registered (optional) runs once a not-yet-started container's attach is
  // in place, so that a start after it loses no output.
  UniqueFd attach(const std::string& ref, std::stop_token stop, const std::function<void()>& registered = {});
  void resize(const std::string& ref, int height, int width);
  void logs(const std::string& ref, const LogQuery& q, const std::function<bool(const LogRecord&)>& sink,
            std::stop_token stop);
  // The runtime's `ps` pids, in the host pid namespace.
  std::vector<int> pids(const std::string& ref);
  // The container's cgroup statistics (read directly from its cgroup) and
  // the host figures beside them; a not-running sample when it is stopped.
  StatsSample stats(const std::string& ref);
  void update(const std::string& ref, const nlohmann::json& resources);
  // The container's merged root: mounted while it runs; mounted on demand
  // for a stopped one and then kept until it starts, exits or is removed.
  std::string rootfs_path(const std::string& ref);
  std::string upper_dir(const std::string& ref);

  // --- networks (container_network.cc): docker network connect/disconnect/rm/prune
  void connect_network(const std::string& container_ref, const std::string& network, const nlohmann::json& endpoint_config);
  void disconnect_network(const std::string& container_ref, const std::string& network, bool force);
  void remove_network(const std::string& network);
  // Removes every user-defined network no container refers to; returns their names.
  std::vector<std::string> prune_networks(const std::function<bool(const nlohmann::json&)>& filter);

  // --- volumes (engine/volume_store.h; containers' volumes in container_volumes.cc)
  VolumeStore& volumes() { return volumes_; }

  // --- exec
  std::string exec_create(const std::string& ref, const nlohmann::json& config);
  ExecIo exec_start(const std::string& exec_id);
  // Blocks until the exec's process exits; returns its exit code.
  int exec_wait(const std::string& exec_id);
  ExecRecord exec_get(const std::string& exec_id) const;
  void exec_resize(const std::string& exec_id, int height, int width);

 private:
  struct Entry;
  struct PendingAttach;

  std::shared_ptr<Entry> lookup(const std::string& ref) const;  // throws NotFoundError
  std::string container_dir(const std::string& id) const;
  std::string exec_dir(const std::string& id) const;
  std::string shim_state_dir(const std::string& id) const;
  const RuntimeSpec& runtime_for(const Container& c) const;
  std::string runtime_root(const std::string& runtime) const;
  std::vector<std::string> runtime_argv(const Container& c, std::vector<std::string> verb) const;
  void persist(const Container& c) const;
  void publish(const Container& c, const std::string& action, std::map<std::string, std::string> extra = {});
  void start_locked(Entry& e);
  void signal_locked(Entry& e, int sig);
  void on_shim_exit(const std::string& id);
  void adopt(const std::shared_ptr<Entry>& e);
  void watch_shim(const std::string& id, pid_t shim_pid);
  void watcher_loop(std::stop_token stop);
  void on_exit_notifications();
  void schedule_restart(const std::string& id, int delay_ms);
  // remove_volumes: also the container's anonymous volumes (rm -v; --rm always).
  void remove_locked(const std::shared_ptr<Entry>& e, bool remove_volumes = false);
  // Renames dir out of the way (a ".trash-" sibling) and deletes it on the
  // janitor thread: removing a container's files can take tens of ms.
  void discard_dir(const std::string& dir);
  void janitor_loop(std::stop_token stop);
  // Waits (bounded) until the container's previous shim has exited: it runs
  // the runtime's delete after recording the exit, and a new create of the
  // same id must not race that.
  void wait_shim_gone(Entry& e);
  void write_etc_files(Container& c);
  // container_network.cc
  void configure_networks(Container& c, const nlohmann::json& networking_config);  // at create
  // At start (e.op held): joins c's networks; returns the network namespace
  // the spec names ("" when the runtime decides: host, none).
  std::string attach_network(Entry& e, Container& c);
  void detach_network(Entry& e) noexcept;                 // at exit; clears the record's runtime fields
  void restore_network(const Container& c);
  // --- volumes (container_volumes.cc)
  // At create, before anything exists: c's mount points as asked for, with
  // VolumesFrom resolved and volumes not created yet (InvalidArgumentError).
  std::vector<MountPoint> plan_volumes(const Container& c);
  // At create, mu_ held: creates or references the planned volumes for c,
  // all or nothing, and records them as c's mount points.
  void create_volumes(Container& c, std::vector<MountPoint> planned);
  // At start (e.op held, rootfs mounted there): mounts e's volumes and, at
  // its first start, fills empty ones from the image; returns the HostConfig
  // the spec is built from (host_config_for_spec).
  nlohmann::json mount_volumes(Entry& e, const std::string& rootfs);
  void unmount_volumes(Entry& e) noexcept;  // at exit, or when a start fails
  void release_volumes(const Container& c, bool remove_anonymous) noexcept;  // at removal
  void restore_volumes();  // at construction: every record's references, the running ones' mounts
  // Healthchecks (engine_health.cc): the monitor runs while the container does.
  void start_health_locked(Entry& e);  // mu_ held
  void run_health_probe(Entry& e, const HealthConfig& cfg, std::stop_token stop);

  EngineOptions opts_;
  image::ContentStore content_;
  image::SnapshotStore snapshots_;
  image::ImageStore images_;
  EventLog events_;
  SpecHost spec_host_;  // probed once: host facts do not change under a running daemon
  std::unique_ptr<NetworkController> networks_;  // before the threads that call it, so it outlives them
  VolumeStore volumes_{opts_.data_root, events_};

  mutable std::mutex mu_;  // guards containers_, names_, execs_ and every Entry's record
  std::condition_variable_any changed_;  // any container's state changed
  std::map<std::string, std::shared_ptr<Entry>> containers_;
  std::map<std::string, std::string> names_;  // "/name" -> id
  std::map<std::string, std::shared_ptr<struct ExecEntry>> execs_;

  UniqueFd watch_epoll_, watch_wake_;
  std::map<int, std::string> watched_;  // shim pidfd -> container id (guarded by mu_)
  std::jthread watcher_;
  std::jthread restarter_;
  UniqueFd exit_notify_;  // inotify: exit.json appearing in a shim's state dir
  std::map<int, std::string> exit_watches_;  // inotify wd -> container id (guarded by mu_)
  std::vector<std::string> pending_exits_;  // exits seen before their watches existed (guarded by mu_)
  std::vector<std::function<void()>> trash_;  // work for the janitor (guarded by mu_)
  std::jthread janitor_;
  std::multimap<int64_t, std::string> restarts_;  // due time (monotonic ns) -> container id (guarded by mu_)
};

}  // namespace berth::engine
