// Packet filtering and NAT for bridge networks and published ports, in one
// nftables table of Berth's own (libnftables; nothing in other tables is
// touched, so it coexists with iptables-nft and firewalld rules).
//
// Contract:
// - Firewall(table) names the table ("ip <table>"); nothing happens until
//   sync(). It acts on the network namespace of the thread that constructs
//   it (libnftables opens its netlink socket then), from whichever thread
//   calls it; calls are serialised.
// - sync() replaces the table atomically (one transaction) with rules for
//   the given networks and ports: masquerade of traffic leaving a
//   non-internal network's subnet through another interface; isolation
//   between different Berth bridges (a published port is public, so it
//   stays reachable from every network); internal networks neither reach nor
//   are reached from outside their bridge; DNAT of published ports for
//   packets addressed to a local address, arriving from outside (prerouting)
//   or made on this host (output, loopback included), with masquerade for
//   hairpin (container -> published port -> container on the same bridge)
//   and for 127.0.0.0/8 sources. It also sets net.ipv4.ip_forward=1 and
//   route_localnet on every bridge given.
// - add_ports()/remove_ports() change only the port maps (element adds and
//   deletes in one transaction: cheap enough for every container start).
//   Removing a mapping that is not there (or whose host port now leads to
//   another container) is not an error and changes nothing; what the kernel
//   holds is checked, so this stays true after a restart or a flush.
//   Adding a host port that already leads elsewhere fails.
// - Names reach nftables' command language only after validation (bridge:
//   [A-Za-z0-9_.-]{1,15}; table: [A-Za-z0-9_]+), so a hostile name is
//   refused, never injected.
// - remove_table() deletes the table; missing is not an error.
// - Errors carry nftables' own message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "network/ipam.h"

namespace berth::network {

struct BridgeNetwork {
  std::string bridge;  // device name
  Ipv4Net subnet;
  bool internal = false;
  bool masquerade = true;  // com.docker.network.bridge.enable_ip_masquerade
};

struct PortMapping {
  std::string proto = "tcp";  // "tcp" | "udp" | "sctp"
  uint32_t host_ip = 0;       // 0: every local address
  uint16_t host_port = 0;
  uint32_t container_ip = 0;
  uint16_t container_port = 0;
  bool operator==(const PortMapping&) const = default;
};

class Firewall {
 public:
  explicit Firewall(std::string table = "berth");
  ~Firewall();
  Firewall(const Firewall&) = delete;
  Firewall& operator=(const Firewall&) = delete;

  void sync(const std::vector<BridgeNetwork>& networks, const std::vector<PortMapping>& ports);
  void add_ports(const std::vector<PortMapping>& ports);
  void remove_ports(const std::vector<PortMapping>& ports);
  void remove_table();
  const std::string& table() const { return table_; }

 private:
  struct Impl;
  std::string table_;
  std::unique_ptr<Impl> impl_;
};

// A host port held by an open socket so no other program (or container)
// can take it while it is published — what docker's "dummy proxy" does
// when the userland proxy is off — without a process per port.
class PortReservation {
 public:
  PortReservation() = default;
  // Binds proto host_ip:port (no listen; port 0: the kernel picks one from
  // ip_local_port_range). Throws Error "Bind for 0.0.0.0:8080 failed: port is already allocated".
  static PortReservation bind(const std::string& proto, uint32_t host_ip, uint16_t port);
  // The first free port of [first, last].
  static PortReservation bind_range(const std::string& proto, uint32_t host_ip, uint16_t first, uint16_t last);
  uint16_t port() const { return port_; }
  ~PortReservation();
  PortReservation(PortReservation&& o) noexcept;
  PortReservation& operator=(PortReservation&& o) noexcept;

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace berth::network
