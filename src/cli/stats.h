// One `docker stats` row from one /containers/{id}/stats sample, computed
// as docker's CLI computes it (cpu % from the cpu_stats/precpu_stats
// deltas, memory without the inactive file cache, summed network and block
// I/O).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace berth::cli {

double cpu_percent(const nlohmann::json& sample);
// Memory usage as docker shows it: usage minus inactive file pages.
double memory_usage(const nlohmann::json& sample);

// Keys: ID Container Name CPUPerc MemUsage MemPerc NetIO BlockIO PIDs.
nlohmann::json stats_row(const nlohmann::json& sample, const std::string& container, bool trunc);

}  // namespace berth::cli
