// Container state as the OCI runtime spec and runc report it
// (`state`, `list --format json`, and the JSON given to hooks on stdin).
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace berth::oci {

enum class Status { kCreating, kCreated, kRunning, kPaused, kStopped };

const char* status_name(Status s);

struct State {
  std::string oci_version;
  std::string id;
  Status status = Status::kCreating;
  int pid = 0;
  std::string bundle;  // absolute path
  std::map<std::string, std::string> annotations;
};

// {"ociVersion","id","status","pid","bundle","annotations"} as given to hooks.
nlohmann::json hook_state_json(const State& s);

}  // namespace berth::oci
