#include "engine/container.h"

#include "base/error.h"

namespace berth::engine {

namespace {
constexpr const char* kStatusNames[] = {"created", "running", "paused", "restarting", "removing", "exited", "dead"};
}

const char* status_name(Status s) { return kStatusNames[static_cast<int>(s)]; }

Status parse_status(const std::string& s) {
  for (int i = 0; i < 7; ++i)
    if (s == kStatusNames[i]) return static_cast<Status>(i);
  fail("unknown container status {:?}", s);
}

bool starts_at_boot(const Container& c) {
  if (c.state.status != Status::kExited || !c.has_been_started) return false;
  auto policy = c.host_config.value("RestartPolicy", nlohmann::json::object());
  if (!policy.is_object()) return false;
  std::string name = policy.value("Name", "");
  if (name == "always") return true;
  if (name == "unless-stopped") return !c.manually_stopped;
  if (name == "on-failure") {
    // As restartmanager's ShouldRestart: a manual stop does not matter here,
    // only the exit code and the retries left.
    int max = policy.value("MaximumRetryCount", 0);
    return c.state.exit_code != 0 && (max == 0 || c.restart_count < max);
  }
  return false;
}

nlohmann::json to_json(const Container& c) {
  const ContainerState& s = c.state;
  return {
      {"id", c.id},
      {"name", c.name},
      {"created", c.created},
      {"image_ref", c.image_ref},
      {"image_id", c.image_id},
      {"config", c.config},
      {"host_config", c.host_config},
      {"runtime", c.runtime},
      {"path", c.path},
      {"args", c.args},
      {"restart_count", c.restart_count},
      {"has_been_started", c.has_been_started},
      {"manually_stopped", c.manually_stopped},
      {"log_path", c.log_path},
      {"hostname_path", c.hostname_path},
      {"hosts_path", c.hosts_path},
      {"resolv_conf_path", c.resolv_conf_path},
      {"networks", c.networks},
      {"ports", c.ports},
      {"sandbox_key", c.sandbox_key},
      {"sandbox", c.sandbox},
      {"mount_points", c.mount_points},
      {"state",
       {{"status", status_name(s.status)},
        {"pid", s.pid},
        {"shim_pid", s.shim_pid},
        {"exit_code", s.exit_code},
        {"error", s.error},
        {"oom_killed", s.oom_killed},
        {"started_at", s.started_at},
        {"finished_at", s.finished_at},
        {"health", s.health},
        {"failing_streak", s.failing_streak},
        {"health_log", s.health_log}}},
  };
}

Container container_from_json(const nlohmann::json& j) {
  try {
    Container c;
    c.id = j.at("id").get<std::string>();
    c.name = j.at("name").get<std::string>();
    c.created = j.at("created").get<std::string>();
    c.image_ref = j.at("image_ref").get<std::string>();
    c.image_id = j.at("image_id").get<std::string>();
    c.config = j.at("config");
    c.host_config = j.at("host_config");
    c.runtime = j.value("runtime", "");
    c.path = j.value("path", "");
    c.args = j.value("args", std::vector<std::string>{});
    c.restart_count = j.value("restart_count", 0);
    c.has_been_started = j.value("has_been_started", false);
    c.manually_stopped = j.value("manually_stopped", false);
    c.log_path = j.value("log_path", "");
    c.hostname_path = j.value("hostname_path", "");
    c.hosts_path = j.value("hosts_path", "");
    c.resolv_conf_path = j.value("resolv_conf_path", "");
    c.networks = j.value("networks", nlohmann::json::object());
    c.ports = j.value("ports", nlohmann::json::object());
    c.sandbox_key = j.value("sandbox_key", "");
    c.sandbox = j.value("sandbox", nlohmann::json());
    c.mount_points = j.value("mount_points", std::vector<MountPoint>{});
    const auto& s = j.at("state");
    c.state.status = parse_status(s.at("status").get<std::string>());
    c.state.pid = s.value("pid", 0);
    c.state.shim_pid = s.value("shim_pid", 0);
    c.state.exit_code = s.value("exit_code", 0);
    c.state.error = s.value("error", "");
    c.state.oom_killed = s.value("oom_killed", false);
    c.state.started_at = s.value("started_at", c.state.started_at);
    c.state.finished_at = s.value("finished_at", c.state.finished_at);
    c.state.health = s.value("health", "");
    c.state.failing_streak = s.value("failing_streak", 0);
    c.state.health_log = s.value("health_log", nlohmann::json::array());
    return c;
  } catch (const nlohmann::json::exception& e) {
    fail("container record: {}", e.what());
  }
}

}  // namespace berth::engine
