// Container: one container's record as the engine keeps it and persists it
// in <data-root>/containers/<id>/config.v2.json (the name dockerd uses).
//
// Contract: to_json/from_json round-trip every field; the JSON is Berth's
// own (not the API shape — api/ renders inspect output from the record).
// The record is plain data: the engine's ContainerStore guards it with the
// store's mutex, so readers copy it out rather than hold references.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/spec_mounts.h"

namespace berth::engine {

enum class Status { kCreated, kRunning, kPaused, kRestarting, kRemoving, kExited, kDead };
// Docker's names: "created", "running", "paused", "restarting", "removing", "exited", "dead".
const char* status_name(Status s);
Status parse_status(const std::string& s);  // throws on unknown

struct ContainerState {
  Status status = Status::kCreated;
  pid_t pid = 0;        // container init on the host, 0 when not running
  pid_t shim_pid = 0;   // its berth-shim
  int exit_code = 0;
  std::string error;    // why the last start failed
  bool oom_killed = false;
  std::string started_at = "0001-01-01T00:00:00Z";
  std::string finished_at = "0001-01-01T00:00:00Z";
  std::string health;   // "", "starting", "healthy", "unhealthy"
  int failing_streak = 0;
  nlohmann::json health_log = nlohmann::json::array();
};

struct Container {
  std::string id;            // 64 hex
  std::string name;          // with docker's leading "/"
  std::string created;       // RFC 3339 nano
  std::string image_ref;     // as given by the user ("busybox")
  std::string image_id;      // "sha256:<hex>"
  nlohmann::json config;     // merged Config (image defaults + create request)
  nlohmann::json host_config;
  std::string runtime;       // name of the OCI runtime
  std::string path;          // Path and Args as docker reports them
  std::vector<std::string> args;
  int restart_count = 0;
  bool has_been_started = false;
  bool manually_stopped = false;  // by stop/kill: "unless-stopped" stays down
  std::string log_path;
  std::string hostname_path, hosts_path, resolv_conf_path;
  std::string mount_label;   // unused, kept for docker's inspect shape
  // --- networks (engine/network_controller.h)
  // Docker's EndpointSettings by network name: the user's request (Aliases,
  // IPAMConfig, Links, MacAddress) always; addresses while running.
  nlohmann::json networks = nlohmann::json::object();
  nlohmann::json ports = nlohmann::json::object();  // NetworkSettings.Ports while running
  std::string sandbox_key;                           // the pinned netns while running
  nlohmann::json sandbox;                            // the controller's record of what it set up
  // --- volumes (engine/spec_mounts.h): binds, volumes and tmpfs mounts, by destination
  std::vector<MountPoint> mount_points;
  ContainerState state;

  bool running() const { return state.status == Status::kRunning || state.status == Status::kPaused; }
  std::string short_id() const { return id.substr(0, 12); }
};

// Whether dockerd's restore would start c again when the daemon boots
// (daemon.go restore: HasBeenStartedBefore and ShouldRestart() on a fresh
// restart manager): c stopped after having run, and its policy "always"
// (even after a manual stop), "unless-stopped" not stopped by the user, or
// "on-failure" after a non-zero exit while retries remain. Paused, running
// and restarting containers are not for this rule.
bool starts_at_boot(const Container& c);

nlohmann::json to_json(const Container& c);
Container container_from_json(const nlohmann::json& j);

}  // namespace berth::engine
