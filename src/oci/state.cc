#include "oci/state.h"

namespace berth::oci {

const char* status_name(Status s) {
  switch (s) {
    case Status::kCreating: return "creating";
    case Status::kCreated: return "created";
    case Status::kRunning: return "running";
    case Status::kPaused: return "paused";
    case Status::kStopped: return "stopped";
  }
  return "unknown";
}

nlohmann::json hook_state_json(const State& s) {
  nlohmann::json j{{"ociVersion", s.oci_version}, {"id", s.id}, {"status", status_name(s.status)}, {"bundle", s.bundle}};
  if (s.pid > 0) j["pid"] = s.pid;
  j["annotations"] = s.annotations;
  return j;
}

}  // namespace berth::oci
