// StatsSample: one reading of a running container's resource usage plus the
// host figures docker's stats JSON puts beside it (api/stats_json.h shapes
// the two into dockerd's /containers/{id}/stats object).
//
// Contract: the parse_* functions are pure (unit-tested on literal /proc
// text); read_* read the live host files. Host figures are computed exactly
// as dockerd computes them: system CPU is the sum of the first seven /proc/stat
// "cpu" fields in nanoseconds, online CPUs the number of "cpuN" lines, host
// memory MemTotal in bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace berth::engine {

struct StatsSample {
  bool running = false;
  std::string read = "0001-01-01T00:00:00Z";  // RFC 3339 nano, when sampled
  nlohmann::json cgroup;     // runc's `events --stats` "data" object (cpu, memory, pids, blkio, hugetlb)
  uint64_t system_cpu_ns = 0;
  uint32_t online_cpus = 0;
  uint64_t host_memory = 0;  // bytes: the limit docker shows for unlimited containers
  nlohmann::json networks;   // docker's per-interface counters; null when the container has none
};

struct HostCpu {
  uint64_t system_ns = 0;
  uint32_t online = 0;
};

HostCpu parse_proc_stat(std::string_view text, long clock_ticks_per_second);
uint64_t parse_mem_total(std::string_view meminfo);  // 0 when absent
// /proc/<pid>/net/dev -> {"eth0": {"rx_bytes": ..., ...}}, loopback left out.
nlohmann::json parse_net_dev(std::string_view text);

HostCpu read_host_cpu();
uint64_t read_host_memory();

}  // namespace berth::engine
