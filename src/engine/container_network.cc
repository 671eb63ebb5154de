// Engine: containers and networks — the network a container asks for at
// create, its sandbox from start to exit, connect/disconnect, and the
// network operations that must look at containers (rm, prune).
#include <cstdio>
#include <set>

#include "base/strings.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"

namespace berth::engine {

namespace {

using nlohmann::json;

enum class NetKind { kHost, kNone, kContainer, kBridge };

NetKind kind_of(const std::string& mode) {
  if (mode == "host") return NetKind::kHost;
  if (mode == "none") return NetKind::kNone;
  if (mode.rfind("container:", 0) == 0) return NetKind::kContainer;
  return NetKind::kBridge;
}

json non_empty_or_null(const json& j) {
  if (j.is_null() || (j.is_array() && j.empty()) || (j.is_object() && j.empty())) return nullptr;
  return j;
}

// The request half of docker's EndpointSettings, as inspect shows it for a
// container that is not running.
json endpoint_request(const json& settings, const std::string& network_id) {
  json s = settings.is_object() ? settings : json::object();
  return {{"IPAMConfig", non_empty_or_null(s.value("IPAMConfig", json()))},
          {"Links", non_empty_or_null(s.value("Links", json()))},
          {"Aliases", non_empty_or_null(s.value("Aliases", json()))},
          {"MacAddress", s.value("MacAddress", "")},
          {"DriverOpts", non_empty_or_null(s.value("DriverOpts", json()))},
          {"GwPriority", 0},
          {"NetworkID", network_id},
          {"EndpointID", ""},
          {"Gateway", ""},
          {"IPAddress", ""},
          {"IPPrefixLen", 0},
          {"IPv6Gateway", ""},
          {"GlobalIPv6Address", ""},
          {"GlobalIPv6PrefixLen", 0},
          {"DNSNames", nullptr}};
}

json cleared_endpoint(const json& ep) {
  json out = ep;
  for (const char* k : {"EndpointID", "Gateway", "IPAddress", "IPv6Gateway", "GlobalIPv6Address"}) out[k] = "";
  out["IPPrefixLen"] = 0;
  out["GlobalIPv6PrefixLen"] = 0;
  out["DNSNames"] = nullptr;
  return out;
}

}  // namespace

void Engine::configure_networks(Container& c, const json& networking_config) {
  std::string mode = c.host_config.value("NetworkMode", "default");
  json eps = networking_config.is_object() ? networking_config.value("EndpointsConfig", json::object()) : json::object();
  if (!eps.is_object()) eps = json::object();
  c.networks = json::object();
  NetKind kind = kind_of(mode);
  if (kind == NetKind::kContainer) {
    lookup(mode.substr(10));  // docker refuses an unknown one at create: "No such container"
    return;
  }
  auto add = [&](const std::string& ref) {
    std::string id = networks_->resolve(ref);
    std::string name = networks_->name_of(id);
    // The CLI keys the first network's settings by what the user typed ("default" too).
    json settings = eps.contains(ref)    ? eps[ref]
                    : eps.contains(name) ? eps[name]
                    : eps.contains(mode) && (ref == mode || (mode == "default" && ref == "bridge")) ? eps[mode]
                                                                                                    : json::object();
    bool user_defined = networks_->is_user_defined_bridge(id);
    if (!user_defined && kind == NetKind::kBridge) {
      if (settings.is_object() && settings.contains("Aliases") && settings["Aliases"].is_array() &&
          !settings["Aliases"].empty())
        throw InvalidArgumentError("network-scoped alias is supported only for containers in user defined networks");
      json ipam = settings.is_object() ? settings.value("IPAMConfig", json::object()) : json::object();
      if (ipam.is_object() && !ipam.value("IPv4Address", "").empty())
        throw InvalidArgumentError("user specified IP address is supported on user defined networks only");
    }
    c.networks[name] = endpoint_request(settings, id);
  };
  try {
    if (kind == NetKind::kHost || kind == NetKind::kNone) {
      add(mode);
      return;
    }
    std::string primary = mode == "default" ? "bridge" : mode;
    if (primary == "bridge") {
      try {
        networks_->resolve("bridge");
      } catch (const NotFoundError&) {
        return;  // --bridge none: an isolated namespace, like "none"
      }
    }
    add(primary);
    for (const auto& [ref, settings] : eps.items()) {
      if (ref == primary || ref == mode) continue;
      std::string name = networks_->name_of(ref);
      if (!c.networks.contains(name)) add(ref);
    }
  } catch (const NotFoundError& ex) {
    // 400, not 404: a 404 from create makes the docker CLI try to pull the image.
    throw InvalidArgumentError(ex.what());
  }
}

std::string Engine::attach_network(Entry& e, Container& c) {
  std::string mode = c.host_config.value("NetworkMode", "default");
  NetKind kind = kind_of(mode);
  if (kind == NetKind::kHost || kind == NetKind::kNone) return "";
  if (kind == NetKind::kContainer) {
    Container other = get(mode.substr(10));
    if (!other.running() || other.state.pid <= 0)
      throw ConflictError(fmt::format("cannot join network namespace of a non running container: {}", other.id));
    return other.sandbox_key.empty() ? fmt::format("/proc/{}/ns/net", other.state.pid) : other.sandbox_key;
  }
  if (c.networks.empty()) return "";
  SandboxRequest req;
  req.container_id = c.id;
  req.name = c.name.substr(1);
  req.networks = c.networks;
  req.primary_network = mode == "default" ? "bridge" : networks_->name_of(mode);
  req.port_bindings = c.host_config.value("PortBindings", json::object());
  req.exposed_ports = c.config.value("ExposedPorts", json::object());
  req.publish_all = c.host_config.value("PublishAllPorts", false);
  SandboxResult r = networks_->attach(req);
  for (const auto& [name, ep] : r.networks.items()) c.networks[name] = ep;
  c.ports = r.ports;
  c.sandbox_key = r.netns_path;
  c.sandbox = r.state;
  std::lock_guard lock(mu_);
  e.c.networks = c.networks;
  e.c.ports = c.ports;
  e.c.sandbox_key = c.sandbox_key;
  e.c.sandbox = c.sandbox;
  persist(e.c);
  return r.netns_path;
}

void Engine::detach_network(Entry& e) noexcept {
  Container c;
  {
    std::lock_guard lock(mu_);
    if (e.c.sandbox.is_null()) return;
    c = e.c;
  }
  networks_->detach(c.id, c.sandbox);
  std::lock_guard lock(mu_);
  for (auto& [name, ep] : e.c.networks.items()) ep = cleared_endpoint(ep);
  e.c.ports = json::object();
  e.c.sandbox_key.clear();
  e.c.sandbox = nullptr;
}

void Engine::restore_network(const Container& c) {
  if (c.sandbox.is_null()) return;
  SandboxRequest req;
  req.container_id = c.id;
  req.name = c.name.substr(1);
  req.networks = c.networks;
  networks_->restore(req, c.sandbox);
}

void Engine::connect_network(const std::string& container_ref, const std::string& network, const json& endpoint_config) {
  auto e = lookup(container_ref);
  std::lock_guard op(e->op);
  Container c = get(e->c.id);
  std::string mode = c.host_config.value("NetworkMode", "default");
  NetKind kind = kind_of(mode);
  std::string id = networks_->resolve(network);
  std::string name = networks_->name_of(id);
  if (kind == NetKind::kHost || name == "host")
    throw ForbiddenError("container cannot be disconnected from host network or connected to host network");
  if (kind == NetKind::kContainer || kind == NetKind::kNone || name == "none")
    throw ForbiddenError("container sharing network namespace with another container or host cannot be connected to any other network");
  if (c.networks.contains(name))
    throw ForbiddenError(fmt::format("endpoint with name {} already exists in network {}", c.name.substr(1), name));
  json settings = endpoint_config.is_object() ? endpoint_config : json::object();
  if (!networks_->is_user_defined_bridge(id)) {
    if (settings.contains("Aliases") && settings["Aliases"].is_array() && !settings["Aliases"].empty())
      throw InvalidArgumentError("network-scoped alias is supported only for containers in user defined networks");
  }
  json ep = endpoint_request(settings, id);
  if (c.running() && !c.sandbox.is_null()) {
    SandboxRequest req;
    req.container_id = c.id;
    req.name = c.name.substr(1);
    json state = c.sandbox;
    ep = networks_->connect(req, id, settings, &state);
    std::lock_guard lock(mu_);
    e->c.networks[name] = ep;
    e->c.sandbox = state;
    persist(e->c);
  } else {
    std::lock_guard lock(mu_);
    e->c.networks[name] = ep;
    persist(e->c);
  }
  events_.publish({"network", "connect", id, {{"container", c.id}, {"name", name}, {"type", "bridge"}}, 0});
}

void Engine::disconnect_network(const std::string& container_ref, const std::string& network, bool force) {
  std::shared_ptr<Entry> e;
  try {
    e = lookup(container_ref);
  } catch (const NotFoundError&) {
    if (force) return;
    throw;
  }
  std::lock_guard op(e->op);
  Container c = get(e->c.id);
  std::string id = networks_->resolve(network);
  std::string name = networks_->name_of(id);
  if (name == "host" || c.host_config.value("NetworkMode", "") == "host")
    throw ForbiddenError("container cannot be disconnected from host network or connected to host network");
  if (!c.networks.contains(name))
    throw ForbiddenError(fmt::format("container {} is not connected to network {}", c.id, name));
  if (c.running() && !c.sandbox.is_null()) {
    json state = c.sandbox;
    networks_->disconnect(c.id, id, &state);
    std::lock_guard lock(mu_);
    e->c.sandbox = state;
  }
  {
    std::lock_guard lock(mu_);
    e->c.networks.erase(name);
    persist(e->c);
  }
  events_.publish({"network", "disconnect", id, {{"container", c.id}, {"name", name}, {"type", "bridge"}}, 0});
}

void Engine::remove_network(const std::string& network) {
  std::string id = networks_->resolve(network);
  std::string name = networks_->name_of(id);
  networks_->remove(id);
  events_.publish({"network", "destroy", id, {{"name", name}, {"type", "bridge"}}, 0});
}

std::vector<std::string> Engine::prune_networks(const std::function<bool(const json&)>& filter) {
  std::set<std::string> used;
  for (const auto& c : list())
    for (const auto& [name, ep] : c.networks.items()) used.insert(ep.value("NetworkID", ""));
  std::vector<std::string> removed;
  for (const auto& n : networks_->list()) {
    std::string id = n.value("Id", "");
    if (used.count(id) || networks_->is_predefined(id) || !filter(n)) continue;
    try {
      remove_network(id);
      removed.push_back(n.value("Name", ""));
    } catch (const Error&) {
      // in use since
    }
  }
  return removed;
}

}  // namespace berth::engine
