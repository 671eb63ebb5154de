// NetworkController's private records, shared by network_controller.cc
// (networks) and network_sandbox.cc (what running containers are given).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/network_controller.h"
#include "network/firewall.h"
#include "network/ipam.h"

namespace berth::engine {

namespace netctl {

std::string short_id(const std::string& id);
std::vector<std::string> strings_of(const nlohmann::json& j);
std::string lower(std::string s);
// Parses an IPv4 address the user gave; InvalidArgumentError "invalid <what>: <s>".
uint32_t parse_ip_or_fail(const std::string& s, const std::string& what);

}  // namespace netctl

using network::Ipv4Net;
using nlohmann::json;

struct NetworkController::Network {
  json doc;  // docker's network JSON without "Containers"
  std::string id, name, driver;
  std::string bridge;  // device, bridge driver only
  std::optional<Ipv4Net> subnet;
  uint32_t gateway = 0;
  std::optional<Ipv4Net> ip_range;
  std::vector<uint32_t> aux_addresses;
  bool internal = false, masquerade = true, predefined = false, default_bridge = false;
  int mtu = 1500;
  network::AddressAllocator alloc;

  void init_allocator() {
    if (!subnet) return;
    alloc = network::AddressAllocator(*subnet, gateway, ip_range);
    for (uint32_t a : aux_addresses) {
      try {
        alloc.reserve(a);
      } catch (const Error&) {
      }
    }
  }
};

struct NetworkController::Endpoint {
  std::string network_id, endpoint_id, host_ifname, ifname, mac;
  uint32_t ip = 0, gateway = 0;
  int prefix = 0;
  std::vector<std::string> aliases;  // network aliases (--network-alias, compose service names)

  json to_json() const {
    return {{"network_id", network_id}, {"endpoint_id", endpoint_id}, {"host_ifname", host_ifname},
            {"ifname", ifname},         {"mac", mac},                 {"ip", network::ipv4_string(ip)},
            {"prefix", prefix},         {"gateway", gateway ? network::ipv4_string(gateway) : ""},
            {"aliases", aliases}};
  }
  static Endpoint from_json(const json& j) {
    Endpoint ep;
    ep.network_id = j.value("network_id", "");
    ep.endpoint_id = j.value("endpoint_id", "");
    ep.host_ifname = j.value("host_ifname", "");
    ep.ifname = j.value("ifname", "");
    ep.mac = j.value("mac", "");
    ep.ip = network::parse_ipv4(j.value("ip", "")).value_or(0);
    ep.prefix = j.value("prefix", 0);
    ep.gateway = network::parse_ipv4(j.value("gateway", "")).value_or(0);
    ep.aliases = netctl::strings_of(j.value("aliases", json()));
    return ep;
  }
};

struct NetworkController::Sandbox {
  std::string container_id, name, netns_path;
  std::vector<Endpoint> endpoints;
  std::vector<network::PortMapping> mappings;
  std::vector<network::PortReservation> reservations;
  bool dns = false;

  json state() const {
    json eps = json::array(), ports = json::array();
    for (const auto& ep : endpoints) eps.push_back(ep.to_json());
    for (const auto& m : mappings)
      ports.push_back({{"proto", m.proto},
                       {"host_ip", network::ipv4_string(m.host_ip)},
                       {"host_port", m.host_port},
                       {"container_ip", network::ipv4_string(m.container_ip)},
                       {"container_port", m.container_port}});
    return {{"netns", netns_path}, {"endpoints", eps}, {"ports", ports}, {"dns", dns}};
  }
};


}  // namespace berth::engine
