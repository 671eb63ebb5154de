// Links, addresses and routes through rtnetlink (libnl-route-3): the bridge
// of a network and the veth pair of each container endpoint.
//
// Contract:
// - A Netlink talks to the network namespace it was opened in: Netlink()
//   the caller's, Netlink::in_netns(path) a pinned one (netns.h). The object
//   may then be used from any thread, but not from two at once.
// - Every failure throws berth::Error naming the operation and the link
//   ("create veth vethab12cd3: file exists").
// - ensure_bridge is idempotent: an existing bridge keeps its addresses;
//   the gateway address is added when missing, MTU set, link brought up.
//   A new bridge gets a fixed random MAC, so it never takes its ports'.
// - add_endpoint creates the veth pair with its peer born inside the
//   container's namespace (no rename dance), enslaves the host end to the
//   bridge with hairpin mode on (a container reaching itself through a
//   published port), sets MAC, address, MTU, brings both ends up and, when
//   a gateway is given, adds the default route via it. A failure after the
//   pair exists deletes it again.
// - delete_link on a missing link is not an error (deleting either end of
//   a veth pair removes both).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace berth::network {

struct BridgeConfig {
  std::string name;          // "berth0", "br-<12 hex>"
  std::string gateway_cidr;  // "172.18.0.1/16"; empty: no address (internal networks keep theirs too)
  int mtu = 1500;
};

struct EndpointConfig {
  std::string bridge;        // host bridge to attach to
  std::string host_ifname;   // the host end: "veth" + 7 hex
  std::string netns_path;    // the container's pinned namespace
  std::string ifname;        // the container end: "eth0", "eth1", ...
  std::string address_cidr;  // "172.18.0.2/16"
  std::string gateway;       // "172.18.0.1"; empty: no default route (internal network, or not the first)
  std::string mac;           // "02:42:ac:12:00:02"
  int mtu = 1500;
};

struct RouteInfo {
  std::string destination_cidr;  // "192.0.2.0/24"; "0.0.0.0/0" for a default route
  std::string ifname;
};

class Netlink {
 public:
  Netlink();  // the calling thread's namespace
  static Netlink in_netns(const std::string& netns_path);
  ~Netlink();
  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;

  void ensure_bridge(const BridgeConfig& cfg);
  void add_endpoint(const EndpointConfig& cfg);
  void delete_link(const std::string& ifname);
  void set_link_up(const std::string& ifname);  // `lo` of a new namespace
  bool link_exists(const std::string& ifname);
  // Every IPv4 route (main table) and interface address of this namespace:
  // IPAM avoids subnets the host already uses.
  std::vector<RouteInfo> ipv4_routes();
  std::vector<std::string> ipv4_addresses();  // "192.0.2.2/24"

 private:
  struct Impl;
  explicit Netlink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sets a sysctl under /proc/sys ("net/ipv4/ip_forward", "1"); throws with the path.
void write_sysctl(const std::string& key, const std::string& value);

}  // namespace berth::network
