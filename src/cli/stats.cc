#include "cli/stats.h"

#include <fmt/format.h>

#include "cli/units.h"

namespace berth::cli {

using json = nlohmann::json;

namespace {
double num(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return 0;
    cur = &(*cur)[k];
  }
  return cur->is_number() ? cur->get<double>() : 0;
}
}  // namespace

double cpu_percent(const json& s) {
  double cpu_delta = num(s, {"cpu_stats", "cpu_usage", "total_usage"}) - num(s, {"precpu_stats", "cpu_usage", "total_usage"});
  double sys_delta = num(s, {"cpu_stats", "system_cpu_usage"}) - num(s, {"precpu_stats", "system_cpu_usage"});
  double online = num(s, {"cpu_stats", "online_cpus"});
  if (online == 0 && s.contains("cpu_stats") && s["cpu_stats"].contains("cpu_usage")) {
    const json& per = s["cpu_stats"]["cpu_usage"].value("percpu_usage", json::array());
    online = per.is_array() ? static_cast<double>(per.size()) : 0;
  }
  if (sys_delta > 0 && cpu_delta > 0) return cpu_delta / sys_delta * online * 100.0;
  return 0;
}

double memory_usage(const json& s) {
  double usage = num(s, {"memory_stats", "usage"});
  // cgroup v1 reports total_inactive_file, v2 inactive_file.
  double v1 = num(s, {"memory_stats", "stats", "total_inactive_file"});
  if (v1 > 0 && v1 < usage) return usage - v1;
  double v2 = num(s, {"memory_stats", "stats", "inactive_file"});
  if (v2 > 0 && v2 < usage) return usage - v2;
  return usage;
}

json stats_row(const json& s, const std::string& container, bool trunc) {
  json r = json::object();
  std::string id = s.value("id", "");
  std::string name = s.value("name", "");
  if (name.starts_with("/")) name = name.substr(1);
  r["ID"] = trunc ? truncate_id(id) : id;
  r["Container"] = container;
  r["Name"] = name.empty() ? "--" : name;
  double mem = memory_usage(s), limit = num(s, {"memory_stats", "limit"});
  r["CPUPerc"] = fmt::format("{:.2f}%", cpu_percent(s));
  r["MemUsage"] = bytes_size(mem) + " / " + bytes_size(limit);
  r["MemPerc"] = fmt::format("{:.2f}%", limit > 0 ? mem / limit * 100.0 : 0.0);
  double rx = 0, tx = 0;
  if (s.contains("networks") && s["networks"].is_object())
    for (auto& [k, n] : s["networks"].items()) {
      rx += num(n, {"rx_bytes"});
      tx += num(n, {"tx_bytes"});
    }
  r["NetIO"] = human_size(rx) + " / " + human_size(tx);
  double rd = 0, wr = 0;
  if (s.contains("blkio_stats") && s["blkio_stats"].contains("io_service_bytes_recursive") &&
      s["blkio_stats"]["io_service_bytes_recursive"].is_array())
    for (const json& e : s["blkio_stats"]["io_service_bytes_recursive"]) {
      std::string op = e.value("op", "");
      if (op == "read" || op == "Read") rd += num(e, {"value"});
      if (op == "write" || op == "Write") wr += num(e, {"value"});
    }
  r["BlockIO"] = human_size(rd) + " / " + human_size(wr);
  r["PIDs"] = fmt::format("{}", static_cast<long long>(num(s, {"pids_stats", "current"})));
  return r;
}

}  // namespace berth::cli
