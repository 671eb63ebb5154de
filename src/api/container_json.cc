#include "api/container_json.h"

#include <time.h>

#include "api/volume_json.h"
#include "api/filters.h"
#include "base/clock.h"
#include "base/strings.h"

namespace berth::api {

namespace {

using nlohmann::json;

int64_t parse_time(const std::string& s) {
  long long n = 0;
  return parse_rfc3339_nano(s, &n) ? n : 0;
}

std::string shell_quote_command(const engine::Container& c) {
  std::string cmd = c.path;
  for (const auto& a : c.args) cmd += " " + a;
  return cmd;
}

json network_settings_json(const engine::Container& c) {
  // The default bridge's endpoint also fills the deprecated top-level fields.
  json bridge = c.networks.contains("bridge") ? c.networks["bridge"] : json::object();
  auto field = [&](const char* k) { return bridge.value(k, ""); };
  return {{"Bridge", ""},
          {"SandboxID", c.sandbox_key.empty() ? "" : c.id},
          {"SandboxKey", c.sandbox_key},
          {"Ports", c.ports.is_object() ? c.ports : json::object()},
          {"HairpinMode", false},
          {"LinkLocalIPv6Address", ""},
          {"LinkLocalIPv6PrefixLen", 0},
          {"SecondaryIPAddresses", nullptr},
          {"SecondaryIPv6Addresses", nullptr},
          {"EndpointID", field("EndpointID")},
          {"Gateway", field("Gateway")},
          {"GlobalIPv6Address", ""},
          {"GlobalIPv6PrefixLen", 0},
          {"IPAddress", field("IPAddress")},
          {"IPPrefixLen", bridge.value("IPPrefixLen", 0)},
          {"IPv6Gateway", ""},
          {"MacAddress", field("MacAddress")},
          {"Networks", c.networks.is_object() ? c.networks : json::object()}};
}

// docker ps's Ports: one entry per published binding, and the exposed-only ports without host side.
json port_summary_json(const engine::Container& c) {
  json out = json::array();
  if (!c.ports.is_object()) return out;
  for (const auto& [key, bindings] : c.ports.items()) {
    auto slash = key.find('/');
    int port = atoi(key.substr(0, slash).c_str());
    std::string proto = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
    if (!bindings.is_array() || bindings.empty()) {
      out.push_back({{"PrivatePort", port}, {"Type", proto}});
      continue;
    }
    for (const auto& b : bindings)
      out.push_back({{"IP", b.value("HostIp", "")},
                     {"PrivatePort", port},
                     {"PublicPort", atoi(b.value("HostPort", "0").c_str())},
                     {"Type", proto}});
  }
  return out;
}

json config_json(const engine::Container& c) {
  json cfg = c.config;
  // Every key docker always shows, even when empty.
  const std::pair<const char*, json> defaults[] = {
      {"Hostname", ""},          {"Domainname", ""},      {"User", ""},          {"AttachStdin", false},
      {"AttachStdout", false},   {"AttachStderr", false}, {"Tty", false},        {"OpenStdin", false},
      {"StdinOnce", false},      {"Env", nullptr},        {"Cmd", nullptr},      {"Image", c.image_ref},
      {"Volumes", nullptr},      {"WorkingDir", ""},      {"Entrypoint", nullptr}, {"OnBuild", nullptr},
      {"Labels", json::object()}};
  for (const auto& [k, v] : defaults)
    if (!cfg.contains(k)) cfg[k] = v;
  if (cfg["Labels"].is_null()) cfg["Labels"] = json::object();
  return cfg;
}

}  // namespace

json host_config_json(const json& stored) {
  json hc = stored.is_object() ? stored : json::object();
  const std::pair<const char*, json> defaults[] = {
      {"Binds", nullptr},
      {"ContainerIDFile", ""},
      {"LogConfig", {{"Type", "json-file"}, {"Config", json::object()}}},
      {"NetworkMode", "default"},
      {"PortBindings", json::object()},
      {"RestartPolicy", {{"Name", "no"}, {"MaximumRetryCount", 0}}},
      {"AutoRemove", false},
      {"VolumeDriver", ""},
      {"VolumesFrom", nullptr},
      {"CapAdd", nullptr},
      {"CapDrop", nullptr},
      {"CgroupnsMode", "host"},
      {"Dns", json::array()},
      {"DnsOptions", json::array()},
      {"DnsSearch", json::array()},
      {"ExtraHosts", nullptr},
      {"GroupAdd", nullptr},
      {"IpcMode", "private"},
      {"Cgroup", ""},
      {"Links", nullptr},
      {"OomScoreAdj", 0},
      {"PidMode", ""},
      {"Privileged", false},
      {"PublishAllPorts", false},
      {"ReadonlyRootfs", false},
      {"SecurityOpt", nullptr},
      {"UTSMode", ""},
      {"UsernsMode", ""},
      {"ShmSize", 67108864},
      {"Runtime", "berth-runtime"},
      {"ConsoleSize", {0, 0}},
      {"Isolation", ""},
      {"CpuShares", 0},
      {"Memory", 0},
      {"NanoCpus", 0},
      {"CgroupParent", ""},
      {"BlkioWeight", 0},
      {"BlkioWeightDevice", json::array()},
      {"BlkioDeviceReadBps", nullptr},
      {"BlkioDeviceWriteBps", nullptr},
      {"BlkioDeviceReadIOps", nullptr},
      {"BlkioDeviceWriteIOps", nullptr},
      {"CpuPeriod", 0},
      {"CpuQuota", 0},
      {"CpuRealtimePeriod", 0},
      {"CpuRealtimeRuntime", 0},
      {"CpusetCpus", ""},
      {"CpusetMems", ""},
      {"Devices", json::array()},
      {"DeviceCgroupRules", nullptr},
      {"DeviceRequests", nullptr},
      {"KernelMemory", 0},
      {"KernelMemoryTCP", 0},
      {"MemoryReservation", 0},
      {"MemorySwap", 0},
      {"MemorySwappiness", nullptr},
      {"OomKillDisable", false},
      {"PidsLimit", nullptr},
      {"Ulimits", nullptr},
      {"CpuCount", 0},
      {"CpuPercent", 0},
      {"IOMaximumIOps", 0},
      {"IOMaximumBandwidth", 0},
      {"MaskedPaths", nullptr},
      {"ReadonlyPaths", nullptr},
  };
  for (const auto& [k, v] : defaults)
    if (!hc.contains(k) || (hc[k].is_null() && !v.is_null())) hc[k] = v;
  if (hc["RestartPolicy"].value("Name", "").empty()) hc["RestartPolicy"]["Name"] = "no";
  return hc;
}

std::string human_duration(int64_t nanos) {
  int64_t seconds = nanos / 1000000000;
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return fmt::format("{} seconds", seconds);
  int64_t minutes = nanos / 60000000000LL;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return fmt::format("{} minutes", minutes);
  int64_t hours = nanos / 3600000000000LL;
  if (hours == 1) return "About an hour";
  if (hours < 48) return fmt::format("{} hours", hours);
  if (hours < 24 * 7 * 2) return fmt::format("{} days", hours / 24);
  if (hours < 24 * 30 * 2) return fmt::format("{} weeks", hours / 24 / 7);
  if (hours < 24 * 365 * 2) return fmt::format("{} months", hours / 24 / 30);
  return fmt::format("{} years", hours / 24 / 365);
}

std::string container_status_text(const engine::Container& c, int64_t now) {
  using engine::Status;
  const auto& s = c.state;
  switch (s.status) {
    case Status::kRunning:
    case Status::kPaused: {
      std::string out = "Up " + human_duration(now - parse_time(s.started_at));
      if (s.status == Status::kPaused) out += " (Paused)";
      else if (s.health == "starting") out += " (health: starting)";
      else if (!s.health.empty()) out += " (" + s.health + ")";
      return out;
    }
    case Status::kRestarting:
      return fmt::format("Restarting ({}) {} ago", s.exit_code, human_duration(now - parse_time(s.finished_at)));
    case Status::kRemoving:
      return "Removal In Progress";
    case Status::kDead:
      return "Dead";
    case Status::kCreated:
      return "Created";
    case Status::kExited:
      if (!c.has_been_started) return "Created";
      return fmt::format("Exited ({}) {} ago", s.exit_code, human_duration(now - parse_time(s.finished_at)));
  }
  return "";
}

json container_inspect_json(const engine::Container& c, const InspectExtras& x) {
  using engine::Status;
  const auto& s = c.state;
  json state = {
      {"Status", engine::status_name(s.status)},
      {"Running", c.running()},
      {"Paused", s.status == Status::kPaused},
      {"Restarting", s.status == Status::kRestarting},
      {"OOMKilled", s.oom_killed},
      {"Dead", s.status == Status::kDead},
      {"Pid", c.running() ? s.pid : 0},
      {"ExitCode", s.exit_code},
      {"Error", s.error},
      {"StartedAt", s.started_at},
      {"FinishedAt", s.finished_at},
  };
  if (!s.health.empty())
    state["Health"] = {{"Status", s.health}, {"FailingStreak", s.failing_streak}, {"Log", s.health_log}};
  json hc = host_config_json(c.host_config);
  return {
      {"Id", c.id},
      {"Created", c.created},
      {"Path", c.path},
      {"Args", c.args},
      {"State", state},
      {"Image", c.image_id},
      {"ResolvConfPath", c.resolv_conf_path},
      {"HostnamePath", c.hostname_path},
      {"HostsPath", c.hosts_path},
      {"LogPath", c.log_path},
      {"Name", c.name},
      {"RestartCount", c.restart_count},
      {"Driver", "overlay2"},
      {"Platform", "linux"},
      {"MountLabel", ""},
      {"ProcessLabel", ""},
      {"AppArmorProfile", ""},
      {"ExecIDs", x.exec_ids.empty() ? json(nullptr) : json(x.exec_ids)},
      {"HostConfig", hc},
      {"GraphDriver",
       {{"Data",
         {{"LowerDir", x.lower_dir}, {"MergedDir", x.merged_dir}, {"UpperDir", x.upper_dir}, {"WorkDir", x.work_dir}}},
        {"Name", "overlay2"}}},
      {"Mounts", mount_points_json(c.mount_points)},
      {"Config", config_json(c)},
      {"NetworkSettings", network_settings_json(c)},
  };
}

json container_summary_json(const engine::Container& c, int64_t now) {
  json labels = c.config.value("Labels", json::object());
  if (labels.is_null()) labels = json::object();
  return {
      {"Id", c.id},
      {"Names", json::array({c.name})},
      {"Image", c.image_ref},
      {"ImageID", c.image_id},
      {"Command", shell_quote_command(c)},
      {"Created", parse_time(c.created) / 1000000000},
      {"Ports", port_summary_json(c)},
      {"Labels", labels},
      {"State", engine::status_name(c.state.status)},
      {"Status", container_status_text(c, now)},
      {"HostConfig", {{"NetworkMode", c.host_config.value("NetworkMode", "default")}}},
      {"NetworkSettings", {{"Networks", c.networks.is_object() ? c.networks : json::object()}}},
      {"Mounts", mount_points_json(c.mount_points)},
  };
}

bool container_matches(const engine::Container& c, const Filters& f, const std::vector<std::string>& ancestor_ids) {
  auto any = [&](const char* key, const std::function<bool(const std::string&)>& pred) {
    auto it = f.find(key);
    if (it == f.end()) return true;
    for (const auto& v : it->second)
      if (pred(v)) return true;
    return false;
  };
  json labels = c.config.value("Labels", json::object());
  if (labels.is_null()) labels = json::object();
  // Every label filter must match (docker ANDs label filters).
  if (auto it = f.find("label"); it != f.end() && !labels_match(labels, it->second)) return false;
  if (!any("status", [&](const std::string& v) { return v == engine::status_name(c.state.status); })) return false;
  if (!any("name", [&](const std::string& v) {
        // docker matches names as a regular expression; a substring covers the usual use.
        std::string bare = c.name.substr(1);
        return bare.find(v[0] == '/' ? v.substr(1) : v) != std::string::npos;
      }))
    return false;
  if (!any("id", [&](const std::string& v) { return c.id.rfind(v, 0) == 0; })) return false;
  if (!any("exited", [&](const std::string& v) {
        return c.state.status == engine::Status::kExited && c.has_been_started && std::to_string(c.state.exit_code) == v;
      }))
    return false;
  if (f.count("ancestor")) {
    bool ok = false;
    for (const auto& id : ancestor_ids) ok = ok || id == c.image_id;
    for (const auto& v : f.at("ancestor")) ok = ok || v == c.image_ref;
    if (!ok) return false;
  }
  if (!any("health", [&](const std::string& v) {
        return v == (c.state.health.empty() ? std::string("none") : c.state.health);
      }))
    return false;
  return true;
}

}  // namespace berth::api
