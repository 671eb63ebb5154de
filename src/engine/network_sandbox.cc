// NetworkController, the sandboxes half: a running container's namespace,
// endpoints, published ports and DNS sockets, from attach to detach.
#include "engine/network_controller.h"

#include <algorithm>
#include <cstdio>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/errors.h"
#include "engine/names.h"
#include "engine/network_controller_internal.h"
#include "network/netlink.h"
#include "network/netns.h"

namespace berth::engine {

using nlohmann::json;
using netctl::lower;
using netctl::parse_ip_or_fail;
using netctl::short_id;
using netctl::strings_of;

namespace {

// "veth" + 7 hex, as docker names the host end.
std::string veth_name() { return "veth" + random_id().substr(0, 7); }


std::vector<network::PortMapping> mappings_from_state(const json& state) {
  std::vector<network::PortMapping> out;
  for (const auto& p : state.value("ports", json::array())) {
    network::PortMapping m;
    m.proto = p.value("proto", "tcp");
    m.host_ip = network::parse_ipv4(p.value("host_ip", "0.0.0.0")).value_or(0);
    m.host_port = p.value("host_port", 0);
    m.container_ip = network::parse_ipv4(p.value("container_ip", "")).value_or(0);
    m.container_port = p.value("container_port", 0);
    out.push_back(m);
  }
  return out;
}


}  // namespace

void NetworkController::reaper_loop(std::stop_token stop) {
  std::unique_lock lock(mu_);
  for (;;) {
    reap_cv_.wait(lock, stop, [&] { return !to_reap_.empty(); });
    if (to_reap_.empty()) return;  // stopping, nothing left
    auto [eps, release] = std::move(to_reap_.front());
    to_reap_.pop_front();
    lock.unlock();
    try {
      network::Netlink nl;
      for (const auto& ep : eps) nl.delete_link(ep.host_ifname);
    } catch (const Error& ex) {
      fprintf(stderr, "berthd: deleting veth: %s\n", ex.what());
    }
    lock.lock();
    if (release) release_endpoints(eps);
  }
}

NetworkController::Endpoint NetworkController::add_endpoint(Network& n, const Sandbox& sb, const json& settings,
                                                            int index, bool gateway) {
  if (n.driver != "bridge" || !n.subnet) fail("network {}: containers cannot join it this way", n.name);
  Endpoint ep;
  ep.network_id = n.id;
  ep.endpoint_id = random_id();
  ep.host_ifname = veth_name();
  ep.ifname = fmt::format("eth{}", index);
  ep.prefix = n.subnet->prefix;
  json ipam = settings.is_object() ? settings.value("IPAMConfig", json::object()) : json::object();
  std::string wanted = ipam.is_object() ? ipam.value("IPv4Address", "") : "";
  if (!wanted.empty()) {
    if (n.default_bridge) throw InvalidArgumentError("user specified IP address is supported on user defined networks only");
    uint32_t a = parse_ip_or_fail(wanted, "IPv4 address");
    try {
      n.alloc.reserve(a);
    } catch (const Error& ex) {
      throw InvalidArgumentError(ex.what());
    }
    ep.ip = a;
  } else {
    ep.ip = n.alloc.allocate();
  }
  std::string mac = settings.is_object() ? settings.value("MacAddress", "") : "";
  ep.mac = mac.empty() ? network::mac_for_ipv4(ep.ip) : mac;
  if (!n.internal && gateway) ep.gateway = n.gateway;
  if (settings.is_object() && !n.default_bridge) ep.aliases = strings_of(settings.value("Aliases", json()));
  network::EndpointConfig cfg;
  cfg.bridge = n.bridge;
  cfg.host_ifname = ep.host_ifname;
  cfg.netns_path = sb.netns_path;
  cfg.ifname = ep.ifname;
  cfg.address_cidr = fmt::format("{}/{}", network::ipv4_string(ep.ip), ep.prefix);
  cfg.gateway = ep.gateway ? network::ipv4_string(ep.gateway) : "";
  cfg.mac = ep.mac;
  cfg.mtu = n.mtu;
  try {
    network::Netlink().add_endpoint(cfg);
  } catch (const Error& ex) {
    n.alloc.release(ep.ip);
    throw ex.wrap(fmt::format("network {}", n.name));
  }
  return ep;
}

namespace {

struct PortKey {
  uint16_t first = 0, last = 0;
  std::string proto = "tcp";
};

// "80/tcp", "53/udp", "8000-8010/tcp", "80".
std::optional<PortKey> parse_port_key(const std::string& key) {
  PortKey k;
  std::string port = key;
  if (auto slash = key.find('/'); slash != std::string::npos) {
    port = key.substr(0, slash);
    k.proto = lower(key.substr(slash + 1));
  }
  if (k.proto != "tcp" && k.proto != "udp" && k.proto != "sctp") return std::nullopt;
  long long a = 0, b = 0;
  auto dash = port.find('-');
  if (dash == std::string::npos) {
    if (!parse_int64(port, &a)) return std::nullopt;
    b = a;
  } else if (!parse_int64(port.substr(0, dash), &a) || !parse_int64(port.substr(dash + 1), &b)) {
    return std::nullopt;
  }
  if (a < 1 || b > 65535 || b < a) return std::nullopt;
  k.first = static_cast<uint16_t>(a);
  k.last = static_cast<uint16_t>(b);
  return k;
}

}  // namespace

void NetworkController::publish_ports(const SandboxRequest& req, Sandbox& sb, json* ports) {
  *ports = json::object();
  const Endpoint* primary = nullptr;
  for (const auto& ep : sb.endpoints)
    if (ep.gateway && !primary) primary = &ep;
  json bindings = req.port_bindings.is_object() ? req.port_bindings : json::object();
  std::set<std::string> keys;
  for (const auto& [k, v] : bindings.items()) keys.insert(k);
  if (req.exposed_ports.is_object())
    for (const auto& [k, v] : req.exposed_ports.items()) keys.insert(k);
  uint32_t default_ip = network::parse_ipv4(opts_.default_host_ip).value_or(0);
  for (const std::string& key : keys) {
    auto pk = parse_port_key(key);
    if (!pk) throw InvalidArgumentError(fmt::format("invalid port specification: \"{}\"", key));
    std::string norm = pk->first == pk->last ? fmt::format("{}/{}", pk->first, pk->proto)
                                             : fmt::format("{}-{}/{}", pk->first, pk->last, pk->proto);
    json list = bindings.contains(key) && bindings[key].is_array() ? bindings[key] : json::array();
    if (list.empty() && req.publish_all) list = json::array({json::object()});
    if (list.empty() || !primary) {
      if (!ports->contains(norm)) (*ports)[norm] = nullptr;
      continue;
    }
    json& out = (*ports)[norm];
    if (!out.is_array()) out = json::array();
    for (uint16_t cport = pk->first; cport <= pk->last && cport != 0; ++cport) {
      for (const auto& b : list) {
        std::string hip_s = b.is_object() ? b.value("HostIp", "") : "";
        if (hip_s.find(':') != std::string::npos) continue;  // IPv6 bindings: no IPv6 here
        uint32_t hip = hip_s.empty() ? default_ip : parse_ip_or_fail(hip_s, "host IP");
        std::string hport = b.is_object() ? b.value("HostPort", "") : "";
        network::PortReservation res;
        if (hport.empty()) {
          res = network::PortReservation::bind(pk->proto, hip, 0);
        } else {
          auto hk = parse_port_key(hport + "/" + pk->proto);
          if (!hk) throw InvalidArgumentError(fmt::format("invalid host port \"{}\"", hport));
          if (hk->first == hk->last && pk->first != pk->last) {
            // "-p 8000:80-81" is refused by the CLI; the API maps ranges port by port.
            res = network::PortReservation::bind(pk->proto, hip, static_cast<uint16_t>(hk->first + (cport - pk->first)));
          } else if (hk->first == hk->last) {
            res = network::PortReservation::bind(pk->proto, hip, hk->first);
          } else if (pk->first != pk->last) {
            res = network::PortReservation::bind(pk->proto, hip, static_cast<uint16_t>(hk->first + (cport - pk->first)));
          } else {
            res = network::PortReservation::bind_range(pk->proto, hip, hk->first, hk->last);
          }
        }
        network::PortMapping m{pk->proto, hip, res.port(), primary->ip, cport};
        sb.mappings.push_back(m);
        sb.reservations.push_back(std::move(res));
        // Each container port gets its own key when a range was published.
        std::string ck = fmt::format("{}/{}", cport, pk->proto);
        json entry = {{"HostIp", network::ipv4_string(hip)}, {"HostPort", std::to_string(m.host_port)}};
        if (pk->first == pk->last) {
          out.push_back(entry);
        } else {
          json& per = (*ports)[ck];
          if (!per.is_array()) per = json::array();
          per.push_back(entry);
        }
      }
    }
    if (pk->first != pk->last) ports->erase(norm);
  }
  if (firewall_ && !sb.mappings.empty()) firewall_->add_ports(sb.mappings);
}

json NetworkController::endpoint_json(const Endpoint& ep, const json& settings, const std::string& name) const {
  const Network* n = find(ep.network_id);
  json s = settings.is_object() ? settings : json::object();
  json out = {{"IPAMConfig", s.value("IPAMConfig", json())},
              {"Links", s.value("Links", json())},
              {"Aliases", s.value("Aliases", json())},
              {"MacAddress", ep.mac},
              {"DriverOpts", s.value("DriverOpts", json())},
              {"GwPriority", 0},
              {"NetworkID", ep.network_id},
              {"EndpointID", ep.endpoint_id},
              {"Gateway", ep.gateway ? network::ipv4_string(ep.gateway) : ""},
              {"IPAddress", network::ipv4_string(ep.ip)},
              {"IPPrefixLen", ep.prefix},
              {"IPv6Gateway", ""},
              {"GlobalIPv6Address", ""},
              {"GlobalIPv6PrefixLen", 0},
              {"DNSNames", nullptr}};
  if (n && !n->default_bridge) {
    json names = json::array({name});
    for (const auto& a : ep.aliases)
      if (a != name) names.push_back(a);
    out["DNSNames"] = names;
  }
  return out;
}

SandboxResult NetworkController::attach(const SandboxRequest& req) {
  SandboxResult out;
  auto sb = std::make_unique<Sandbox>();
  sb->container_id = req.container_id;
  sb->name = req.name;
  sb->netns_path = path_join(path_join(opts_.exec_root, "netns"), req.container_id);
  std::vector<std::string> order;
  if (!req.primary_network.empty()) order.push_back(req.primary_network);
  if (req.networks.is_object())
    for (const auto& [name, v] : req.networks.items())
      if (name != req.primary_network) order.push_back(name);
  {
    std::lock_guard lock(mu_);
    std::vector<Network*> nets;
    for (const auto& ref : order) {
      const Network& n = get(ref);
      nets.push_back(const_cast<Network*>(&n));
    }
    try {
      network::remove_netns(sb->netns_path);  // a leftover of a crash
      network::create_netns(sb->netns_path);
      bool have_gateway = false;
      for (size_t i = 0; i < nets.size(); ++i) {
        json settings = req.networks.is_object() && req.networks.contains(order[i]) ? req.networks[order[i]] : json();
        Endpoint ep = add_endpoint(*nets[i], *sb, settings, static_cast<int>(i), !have_gateway);
        have_gateway = have_gateway || ep.gateway != 0;
        sb->endpoints.push_back(ep);
        if (!nets[i]->default_bridge) sb->dns = true;
      }
      publish_ports(req, *sb, &out.ports);
    } catch (...) {
      if (firewall_ && !sb->mappings.empty()) {
        try {
          firewall_->remove_ports(sb->mappings);
        } catch (const Error&) {
        }
      }
      for (const auto& ep : sb->endpoints) {
        try {
          network::Netlink().delete_link(ep.host_ifname);
        } catch (const Error&) {
        }
      }
      release_endpoints(sb->endpoints);
      try {
        network::remove_netns(sb->netns_path);
      } catch (const Error&) {
      }
      throw;
    }
    out.networks = json::object();
    for (size_t i = 0; i < sb->endpoints.size(); ++i) {
      json settings = req.networks.is_object() && req.networks.contains(order[i]) ? req.networks[order[i]] : json();
      out.networks[find(sb->endpoints[i].network_id)->name] = endpoint_json(sb->endpoints[i], settings, req.name);
    }
    if (!sb->endpoints.empty()) {
      out.primary_ip = network::ipv4_string(sb->endpoints[0].ip);
      if (sb->endpoints[0].gateway) out.primary_gateway = network::ipv4_string(sb->endpoints[0].gateway);
    }
    out.netns_path = sb->netns_path;
    out.embedded_dns = sb->dns;
    out.state = sb->state();
    if (sb->dns) ensure_dns();
    sandboxes_[req.container_id] = std::move(sb);
  }
  // Outside mu_: the DNS thread takes mu_ in its lookups.
  if (out.embedded_dns) listen_dns(req.container_id, out.netns_path);
  return out;
}

void NetworkController::release_endpoints(const std::vector<Endpoint>& eps) {
  for (const auto& ep : eps) {
    auto it = networks_.find(ep.network_id);
    if (it != networks_.end() && ep.ip) it->second->alloc.release(ep.ip);
  }
}

void NetworkController::detach(const std::string& container_id, const json& state) noexcept {
  try {
    if (dns_ && state.is_object() && state.value("dns", false)) dns_->remove(container_id);
    std::unique_ptr<Sandbox> sb;
    std::lock_guard lock(mu_);
    if (auto it = sandboxes_.find(container_id); it != sandboxes_.end()) {
      sb = std::move(it->second);
      sandboxes_.erase(it);
    }
    std::vector<network::PortMapping> mappings = sb ? sb->mappings : mappings_from_state(state);
    std::vector<Endpoint> eps;
    if (sb) {
      eps = sb->endpoints;
    } else if (state.is_object()) {
      for (const auto& j : state.value("endpoints", json::array())) eps.push_back(Endpoint::from_json(j));
    }
    std::string netns = sb ? sb->netns_path : (state.is_object() ? state.value("netns", "") : "");
    if (firewall_ && !mappings.empty()) {
      try {
        firewall_->remove_ports(mappings);
      } catch (const Error& ex) {
        fprintf(stderr, "berthd: container %s: %s\n", container_id.c_str(), ex.what());
      }
    }
    if (!netns.empty()) network::remove_netns(netns);
    if (!eps.empty()) {
      // Without a sandbox here (its container died while no daemon ran) its
      // addresses were never taken back by restore(): they are not ours to
      // return, and may be someone else's by now.
      to_reap_.emplace_back(std::move(eps), sb != nullptr);
      reap_cv_.notify_all();
    }
  } catch (const std::exception& ex) {
    fprintf(stderr, "berthd: container %s: network teardown: %s\n", container_id.c_str(), ex.what());
  }
}

void NetworkController::restore(const SandboxRequest& req, const json& state) {
  if (!state.is_object()) return;
  auto sb = std::make_unique<Sandbox>();
  sb->container_id = req.container_id;
  sb->name = req.name;
  sb->netns_path = state.value("netns", "");
  sb->dns = state.value("dns", false);
  {
    std::lock_guard lock(mu_);
    for (const auto& j : state.value("endpoints", json::array())) {
      Endpoint ep = Endpoint::from_json(j);
      if (auto it = networks_.find(ep.network_id); it != networks_.end() && ep.ip) {
        try {
          it->second->alloc.reserve(ep.ip);
        } catch (const Error& ex) {
          fprintf(stderr, "berthd: container %s: %s\n", req.container_id.c_str(), ex.what());
        }
      }
      sb->endpoints.push_back(ep);
    }
    for (const auto& m : mappings_from_state(state)) {
      try {
        sb->reservations.push_back(network::PortReservation::bind(m.proto, m.host_ip, m.host_port));
      } catch (const Error& ex) {
        fprintf(stderr, "berthd: container %s: %s\n", req.container_id.c_str(), ex.what());
      }
      sb->mappings.push_back(m);
    }
    if (firewall_ && !sb->mappings.empty()) {
      try {
        firewall_->add_ports(sb->mappings);
      } catch (const Error& ex) {
        fprintf(stderr, "berthd: container %s: %s\n", req.container_id.c_str(), ex.what());
      }
    }
    if (sb->dns) ensure_dns();
    sandboxes_[req.container_id] = std::move(sb);
  }
  if (state.value("dns", false)) listen_dns(req.container_id, state.value("netns", ""));
}

json NetworkController::connect(const SandboxRequest& req, const std::string& network, const json& settings,
                                 json* state) {
  bool start_dns = false;
  json out;
  std::string netns;
  {
    std::lock_guard lock(mu_);
    auto it = sandboxes_.find(req.container_id);
    if (it == sandboxes_.end()) fail("container {} has no network sandbox", req.container_id);
    Sandbox& sb = *it->second;
    Network& n = const_cast<Network&>(get(network));
    for (const auto& ep : sb.endpoints)
      if (ep.network_id == n.id)
        throw ForbiddenError(fmt::format("endpoint with name {} already exists in network {}", req.name, n.name));
    int index = 0;
    for (const auto& ep : sb.endpoints) index = std::max(index, atoi(ep.ifname.c_str() + 3) + 1);
    bool have_gateway = std::any_of(sb.endpoints.begin(), sb.endpoints.end(), [](const Endpoint& e) { return e.gateway != 0; });
    Endpoint ep = add_endpoint(n, sb, settings, index, !have_gateway);
    sb.endpoints.push_back(ep);
    if (!n.default_bridge && !sb.dns) {
      sb.dns = true;
      start_dns = true;
      ensure_dns();
    }
    out = endpoint_json(ep, settings, req.name);
    *state = sb.state();
    netns = sb.netns_path;
  }
  if (start_dns) listen_dns(req.container_id, netns);
  return out;
}

void NetworkController::disconnect(const std::string& container_id, const std::string& network, json* state) {
  std::lock_guard lock(mu_);
  auto it = sandboxes_.find(container_id);
  if (it == sandboxes_.end()) return;
  Sandbox& sb = *it->second;
  const Network& n = get(network);
  auto ep = std::find_if(sb.endpoints.begin(), sb.endpoints.end(), [&](const Endpoint& e) { return e.network_id == n.id; });
  if (ep == sb.endpoints.end())
    throw ForbiddenError(fmt::format("container {} is not connected to network {}", container_id, n.name));
  network::Netlink().delete_link(ep->host_ifname);
  release_endpoints({*ep});
  sb.endpoints.erase(ep);
  *state = sb.state();
}

void NetworkController::rename(const std::string& container_id, const std::string& new_name) {
  std::lock_guard lock(mu_);
  if (auto it = sandboxes_.find(container_id); it != sandboxes_.end()) it->second->name = new_name;
}

void NetworkController::ensure_dns() {
  if (dns_) return;
  dns_ = std::make_unique<network::DnsServer>(
      network::DnsBackend{[this](const std::string& c, const std::string& n) { return dns_lookup(c, n); },
                          [this](const std::string& c, uint32_t a) { return dns_reverse(c, a); }},
      upstreams_);
}

void NetworkController::listen_dns(const std::string& container_id, const std::string& netns) noexcept {
  try {
    dns_->add(container_id, netns);
  } catch (const Error& ex) {
    fprintf(stderr, "berthd: container %s: embedded DNS: %s\n", container_id.c_str(), ex.what());
  }
}

}  // namespace berth::engine
