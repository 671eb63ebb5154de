#include "api/stats_json.h"

namespace berth::api {

namespace {

using nlohmann::json;

constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";

// A number at a path of runc's stats, 0 when absent.
uint64_t u64(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object() || !cur->contains(key)) return 0;
    cur = &(*cur)[key];
  }
  return cur->is_number_unsigned() || cur->is_number_integer() ? cur->get<uint64_t>() : 0;
}

// One controller's object of runc's stats ({} when absent).
json section(const engine::StatsSample& s, const char* key) {
  if (!s.running || !s.cgroup.is_object() || !s.cgroup.contains(key) || !s.cgroup[key].is_object())
    return json::object();
  return s.cgroup[key];
}

json cpu_stats(const engine::StatsSample& s) {
  const json cpu = section(s, "cpu");
  json usage = {{"total_usage", u64(cpu, {"usage", "total"})},
                {"usage_in_kernelmode", u64(cpu, {"usage", "kernel"})},
                {"usage_in_usermode", u64(cpu, {"usage", "user"})}};
  if (cpu.contains("usage") && cpu["usage"].is_object() && cpu["usage"].contains("percpu") &&
      cpu["usage"]["percpu"].is_array() && !cpu["usage"]["percpu"].empty())
    usage["percpu_usage"] = cpu["usage"]["percpu"];
  json out = {{"cpu_usage", std::move(usage)},
              {"throttling_data",
               {{"periods", u64(cpu, {"throttling", "periods"})},
                {"throttled_periods", u64(cpu, {"throttling", "throttledPeriods"})},
                {"throttled_time", u64(cpu, {"throttling", "throttledTime"})}}}};
  if (s.running && s.system_cpu_ns) out["system_cpu_usage"] = s.system_cpu_ns;
  if (s.running && s.online_cpus) out["online_cpus"] = s.online_cpus;
  return out;
}

json memory_stats(const engine::StatsSample& s) {
  json out = json::object();
  const json mem = section(s, "memory");
  auto set = [&](const char* key, uint64_t v) {
    if (v) out[key] = v;
  };
  set("usage", u64(mem, {"usage", "usage"}));
  set("max_usage", u64(mem, {"usage", "max"}));
  set("failcnt", u64(mem, {"usage", "failcnt"}));
  if (mem.contains("raw") && mem["raw"].is_object() && !mem["raw"].empty()) out["stats"] = mem["raw"];
  uint64_t limit = u64(mem, {"usage", "limit"});
  // An unlimited cgroup reports "max" or v1's page-rounded INT64_MAX: docker shows the host's memory.
  if (limit == 0 || (s.host_memory && limit > s.host_memory)) limit = s.host_memory;
  set("limit", limit);
  return out;
}

json blkio_entries(const json& blkio, const char* key) {
  json out = json::array();
  if (blkio.contains(key) && blkio[key].is_array())
    for (const json& e : blkio[key])
      out.push_back({{"major", u64(e, {"major"})},
                     {"minor", u64(e, {"minor"})},
                     {"op", e.value("op", "")},
                     {"value", u64(e, {"value"})}});
  return out;
}

json blkio_stats(const engine::StatsSample& s) {
  json out = {{"io_service_bytes_recursive", nullptr}, {"io_serviced_recursive", nullptr},
              {"io_queue_recursive", nullptr},         {"io_service_time_recursive", nullptr},
              {"io_wait_time_recursive", nullptr},     {"io_merged_recursive", nullptr},
              {"io_time_recursive", nullptr},          {"sectors_recursive", nullptr}};
  if (!s.running) return out;
  const json blkio = section(s, "blkio");
  out["io_service_bytes_recursive"] = blkio_entries(blkio, "ioServiceBytesRecursive");
  out["io_serviced_recursive"] = blkio_entries(blkio, "ioServicedRecursive");
  return out;
}

json pids_stats(const engine::StatsSample& s) {
  json out = json::object();
  const json pids = section(s, "pids");
  if (uint64_t v = u64(pids, {"current"})) out["current"] = v;
  if (uint64_t v = u64(pids, {"limit"})) out["limit"] = v;
  return out;
}

}  // namespace

json stats_json(const std::string& name, const std::string& id, const engine::StatsSample& cur,
                const engine::StatsSample& pre) {
  engine::StatsSample none;
  const engine::StatsSample& now = cur.running ? cur : none;
  const engine::StatsSample& before = cur.running && pre.running ? pre : none;
  json out = {
      {"read", now.running ? now.read : kZeroTime},
      {"preread", before.running ? before.read : kZeroTime},
      {"pids_stats", now.running ? pids_stats(now) : json::object()},
      {"blkio_stats", blkio_stats(now)},
      {"num_procs", 0},
      {"storage_stats", json::object()},
      {"cpu_stats", cpu_stats(now)},
      {"precpu_stats", cpu_stats(before)},
      {"memory_stats", now.running ? memory_stats(now) : json::object()},
      {"name", name},
      {"id", id},
  };
  if (now.running && now.networks.is_object() && !now.networks.empty()) out["networks"] = now.networks;
  return out;
}

}  // namespace berth::api
