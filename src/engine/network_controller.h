// NetworkController: docker's networks as libnetwork's controller keeps
// them, with the bridge driver — the predefined "bridge", "host" and "none"
// networks, user-defined bridge networks, and each running container's
// sandbox (a pinned network namespace with one veth endpoint per network,
// its published ports and its embedded-DNS sockets).
//
// Contract:
// - Networks persist as <data-root>/networks/<id>.json (docker's network
//   JSON plus the bridge device); "host" and "none" always exist, "bridge"
//   unless the daemon runs with --bridge none. A network's bridge device
//   exists from its creation (re-ensured at daemon start) to its removal.
// - References resolve like dockerd's: full ID, exact name, unique ID
//   prefix; unknown -> NotFoundError "network <ref> not found".
// - detach() is quick: the namespace and port rules go at once; deleting
//   the host ends of the veth pairs takes the kernel 20-40 ms each, so a
//   background thread does it and only then returns the addresses (an
//   address is never reused while its old interface may still answer).
// - Addresses are handed out at attach and returned at detach; the running
//   containers' addresses come back through restore() after a daemon
//   restart, before anything new is attached (the engine's constructor
//   restores first), so an address is never handed out twice.
// - attach() either sets up everything (namespace, endpoints, ports, DNS)
//   or nothing: a failure undoes what it did. detach() tolerates partial or
//   already-gone state and never throws.
// - The embedded DNS (user-defined networks only) answers a container's
//   queries with containers sharing one of its user-defined networks:
//   names, network aliases, short IDs and "<name>.<network>".
// - Thread-safe: one mutex guards the networks and the sandbox registry;
//   the DNS thread's lookups take it too, so no call into the controller
//   may hold a lock the DNS thread could need.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <condition_variable>
#include <deque>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "network/dns_server.h"
#include "network/firewall.h"
#include "network/ipam.h"

namespace berth::engine {

struct NetworkControllerOptions {
  std::string data_root;
  std::string exec_root;
  std::string default_bridge = "berth0";  // device of the "bridge" network; "none": no such network
  std::string default_bridge_cidr;        // --bip "172.20.0.1/16"; empty: found or picked
  int mtu = 1500;
  bool firewall = true;                   // --iptables: NAT, isolation and published ports
  bool ip_masq = true;
  std::string default_host_ip = "0.0.0.0";  // --ip: where -p without an address binds
  std::vector<std::string> dns;           // --dns; empty: the host's resolvers
  std::string firewall_table = "berth";
};

// What a container asks of its sandbox at start.
struct SandboxRequest {
  std::string container_id;
  std::string name;                    // without the leading "/"
  nlohmann::json networks;             // Container::networks: name -> EndpointSettings (the request part)
  std::string primary_network;         // HostConfig.NetworkMode's network: eth0, the default route, published ports
  nlohmann::json port_bindings;        // HostConfig.PortBindings
  nlohmann::json exposed_ports;        // Config.ExposedPorts
  bool publish_all = false;
};

struct SandboxResult {
  std::string netns_path;
  nlohmann::json networks;    // EndpointSettings with NetworkID, EndpointID, addresses filled in
  nlohmann::json ports;       // NetworkSettings.Ports
  nlohmann::json state;       // the controller's own record, handed back to detach/restore
  bool embedded_dns = false;  // on a user-defined network: resolv.conf names 127.0.0.11
  std::string primary_ip;     // for /etc/hosts; empty without an endpoint
  std::string primary_gateway;
};

class NetworkController {
 public:
  explicit NetworkController(NetworkControllerOptions opts);
  ~NetworkController();
  NetworkController(const NetworkController&) = delete;
  NetworkController& operator=(const NetworkController&) = delete;

  // --- networks (the API's /networks)
  // request: docker's NetworkCreateRequest. Returns {"Id", "Warning"}.
  nlohmann::json create(const nlohmann::json& request);
  void remove(const std::string& ref);
  // Docker's network JSON; Containers filled with the attached running containers.
  nlohmann::json inspect(const std::string& ref) const;
  std::vector<nlohmann::json> list() const;
  std::string resolve(const std::string& ref) const;  // -> id
  std::string name_of(const std::string& ref) const;
  bool is_predefined(const std::string& ref) const;
  bool is_user_defined_bridge(const std::string& ref) const;
  bool has_endpoints(const std::string& ref) const;
  // The default bridge's gateway ("host-gateway" in --add-host); empty without one.
  std::string default_gateway() const;
  // The resolvers the embedded DNS forwards to and default-bridge containers get.
  std::vector<std::string> upstream_dns() const { return upstreams_; }

  // --- sandboxes
  SandboxResult attach(const SandboxRequest& req);
  void detach(const std::string& container_id, const nlohmann::json& state) noexcept;
  // A daemon restart: take back the addresses, port reservations, DNS
  // sockets and rules of a container still running with this state.
  void restore(const SandboxRequest& req, const nlohmann::json& state);
  // Connects a running container to one more network. Returns its
  // EndpointSettings; *state and *ports are updated.
  nlohmann::json connect(const SandboxRequest& req, const std::string& network, const nlohmann::json& settings,
                         nlohmann::json* state);
  void disconnect(const std::string& container_id, const std::string& network, nlohmann::json* state);
  // Container renamed: the DNS answers the new name.
  void rename(const std::string& container_id, const std::string& new_name);

 private:
  struct Network;
  struct Endpoint;
  struct Sandbox;

  void load();
  void ensure_predefined();
  void ensure_default_bridge();
  void persist(const Network& n) const;
  const Network* find(const std::string& ref) const;  // mu_ held
  const Network& get(const std::string& ref) const;   // mu_ held; throws NotFoundError
  std::vector<network::Ipv4Net> subnets_in_use() const;  // mu_ held
  void sync_firewall();                                // mu_ held
  void release_endpoints(const std::vector<Endpoint>& eps);  // mu_ held
  nlohmann::json network_json(const Network& n) const;  // mu_ held
  // mu_ held: allocates the address and creates the veth pair.
  Endpoint add_endpoint(Network& n, const Sandbox& sb, const nlohmann::json& settings, int index, bool gateway);
  void publish_ports(const SandboxRequest& req, Sandbox& sb, nlohmann::json* ports);  // mu_ held
  nlohmann::json endpoint_json(const Endpoint& ep, const nlohmann::json& settings, const std::string& name) const;
  void ensure_dns();  // mu_ held: starts the server with the first user-defined network endpoint
  // Not under mu_: the DNS thread takes it in its lookups. A failure is logged; the container runs without names.
  void listen_dns(const std::string& container_id, const std::string& netns) noexcept;
  std::vector<uint32_t> dns_lookup(const std::string& client, const std::string& name);
  std::string dns_reverse(const std::string& client, uint32_t addr);

  NetworkControllerOptions opts_;
  std::vector<std::string> upstreams_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Network>> networks_;  // by id
  std::map<std::string, std::unique_ptr<Sandbox>> sandboxes_;  // by container id
  std::unique_ptr<network::Firewall> firewall_;  // guarded by mu_
  std::unique_ptr<network::DnsServer> dns_;  // started with the first user-defined network endpoint
  std::condition_variable_any reap_cv_;
  // Detached endpoints whose veths are still to be deleted, and whether
  // their addresses are this daemon's to return afterwards (mu_).
  std::deque<std::pair<std::vector<Endpoint>, bool>> to_reap_;
  std::jthread reaper_;
  void reaper_loop(std::stop_token stop);
};

}  // namespace berth::engine
