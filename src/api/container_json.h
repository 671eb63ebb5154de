// The Engine API's JSON views of a container: GET /containers/{id}/json
// (inspect) and the summaries of GET /containers/json, in dockerd's shapes
// (API 1.41) with every field the docker CLIs and SDKs read.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "api/filters.h"
#include "engine/container.h"

namespace berth::api {

struct InspectExtras {
  std::string lower_dir, upper_dir, work_dir, merged_dir;
  std::vector<std::string> exec_ids;
};

nlohmann::json container_inspect_json(const engine::Container& c, const InspectExtras& x);
nlohmann::json container_summary_json(const engine::Container& c, int64_t now_nano);
// HostConfig with dockerd's defaults for every field a client reads.
nlohmann::json host_config_json(const nlohmann::json& stored);
// docker's human "Up 3 seconds" / "Exited (0) 2 minutes ago".
std::string container_status_text(const engine::Container& c, int64_t now_nano);
// Go's units.HumanDuration.
std::string human_duration(int64_t nanos);
// Applies docker's /containers/json filters (label, status, name, id,
// ancestor, exited, before, since, health, is-task) to c.
// ancestor_ids: the image IDs the "ancestor" values resolve to.
bool container_matches(const engine::Container& c, const Filters& f, const std::vector<std::string>& ancestor_ids);

}  // namespace berth::api
