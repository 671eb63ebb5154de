#include "config.h"

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::berthd {

static std::string get_string(const nlohmann::json& j, const std::string& key, const std::string& path) {
  if (!j.is_string()) fail("config file {}: {} must be a string", path, key);
  return j.get<std::string>();
}

std::vector<std::string> merge_config_file(const std::string& path, const std::set<std::string>& flags_given,
                                           DaemonConfig* cfg) {
  nlohmann::json doc = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) fail("config file {}: not a JSON object", path);
  std::vector<std::string> conflicts, ignored;
  for (const auto& [key, val] : doc.items()) {
    if (flags_given.count(key)) {
      conflicts.push_back(key);
      continue;
    }
    if (key == "hosts") {
      if (!val.is_array()) fail("config file {}: hosts must be a list", path);
      for (const auto& h : val) cfg->hosts.push_back(get_string(h, key, path));
    } else if (key == "data-root") {
      cfg->data_root = get_string(val, key, path);
    } else if (key == "exec-root") {
      cfg->exec_root = get_string(val, key, path);
    } else if (key == "pidfile") {
      cfg->pidfile = get_string(val, key, path);
    } else if (key == "log-level") {
      cfg->log_level = get_string(val, key, path);
    } else if (key == "debug") {
      if (!val.is_boolean()) fail("config file {}: debug must be true or false", path);
      cfg->debug = val.get<bool>();
    } else if (key == "default-runtime") {
      cfg->default_runtime = get_string(val, key, path);
    } else if (key == "registry-mirrors" || key == "insecure-registries") {
      if (!val.is_array()) fail("config file {}: {} must be a list", path, key);
      auto& list = key == "registry-mirrors" ? cfg->registry_mirrors : cfg->insecure_registries;
      for (const auto& v : val) list.push_back(get_string(v, key, path));
    } else if (key == "max-concurrent-downloads" || key == "max-concurrent-uploads") {
      if (!val.is_number_integer() || val.get<int>() < 1) fail("config file {}: {} must be a positive integer", path, key);
      (key == "max-concurrent-downloads" ? cfg->max_concurrent_downloads : cfg->max_concurrent_uploads) = val.get<int>();
    } else if (key == "bridge" || key == "bip" || key == "ip") {
      (key == "bridge" ? cfg->bridge : key == "bip" ? cfg->bip : cfg->ip) = get_string(val, key, path);
    } else if (key == "mtu") {
      if (!val.is_number_integer() || val.get<int>() < 68) fail("config file {}: mtu must be an integer of at least 68", path);
      cfg->mtu = val.get<int>();
    } else if (key == "iptables" || key == "ip-masq") {
      if (!val.is_boolean()) fail("config file {}: {} must be true or false", path, key);
      (key == "iptables" ? cfg->iptables : cfg->ip_masq) = val.get<bool>();
    } else if (key == "dns") {
      if (!val.is_array()) fail("config file {}: dns must be a list", path);
      for (const auto& v : val) cfg->dns.push_back(get_string(v, key, path));
    } else if (key == "runtimes") {
      if (!val.is_object()) fail("config file {}: runtimes must be an object", path);
      for (const auto& [name, rt] : val.items()) {
        if (!rt.is_object() || !rt.contains("path")) fail("config file {}: runtime {} needs a path", path, name);
        api::RuntimeInfo info{get_string(rt["path"], "runtimes." + name + ".path", path), {}};
        if (rt.contains("runtimeArgs")) {
          for (const auto& a : rt["runtimeArgs"]) info.args.push_back(get_string(a, "runtimeArgs", path));
        }
        cfg->runtimes[name] = info;
      }
    } else {
      ignored.push_back(key);
    }
  }
  if (!conflicts.empty()) {
    fail("unable to configure the daemon: the following directives are specified both as a flag and in the "
         "configuration file: {} (from {})",
         join(conflicts, ", "), path);
  }
  return ignored;
}

void add_runtime_flag(std::string_view spec, DaemonConfig* cfg) {
  size_t eq = spec.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size()) {
    fail("--add-runtime {}: expected name=path", spec);
  }
  cfg->runtimes[std::string(spec.substr(0, eq))] = api::RuntimeInfo{std::string(spec.substr(eq + 1)), {}};
}

ListenAddr parse_host(std::string_view spec, const std::string& default_socket) {
  ListenAddr a;
  if (spec.starts_with("unix://")) {
    a.path = std::string(spec.substr(7));
    if (a.path.empty()) a.path = default_socket;
    if (!a.path.starts_with("/")) fail("invalid host {}: socket path must be absolute", spec);
    return a;
  }
  if (spec.starts_with("tcp://")) {
    std::string_view rest = spec.substr(6);
    if (rest.ends_with("/")) rest.remove_suffix(1);
    size_t colon = rest.rfind(':');
    unsigned long long port = 0;
    if (colon == std::string_view::npos || !parse_uint64(rest.substr(colon + 1), &port) || port > 65535) {
      fail("invalid host {}: expected tcp://address:port", spec);
    }
    a.is_unix = false;
    a.host = std::string(rest.substr(0, colon));
    if (a.host.starts_with("[") && a.host.ends_with("]")) a.host = a.host.substr(1, a.host.size() - 2);
    if (a.host.empty()) a.host = "127.0.0.1";
    a.port = static_cast<uint16_t>(port);
    return a;
  }
  fail("invalid host {}: only unix:// and tcp:// are supported", spec);
}

}  // namespace berth::berthd
