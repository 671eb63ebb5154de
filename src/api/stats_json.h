// stats_json: dockerd's GET /containers/{id}/stats object (types.StatsJSON)
// from two engine samples: `cur`, and `pre`, the one taken about a second
// earlier that fills precpu_stats/preread (a not-running sample: zeros).
//
// Contract: a not-running `cur` gives exactly what dockerd sends for a
// stopped container (zero times, empty stats, only name and id set).
// Otherwise runc's stats fields map as dockerd maps them: cpu usage and
// throttling in ns, percpu_usage only where the cgroup reports it (v1),
// memory usage/max_usage/failcnt/stats (memory.stat), limit clamped to the
// host's memory (an unlimited cgroup reports a huge value), pids, blkio
// entries, and per-interface networks only when the container has any.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/stats.h"

namespace berth::api {

nlohmann::json stats_json(const std::string& name, const std::string& id, const engine::StatsSample& cur,
                          const engine::StatsSample& pre);

}  // namespace berth::api
