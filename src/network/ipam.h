// IPv4 address management: subnets for new networks and addresses within
// them, as docker's default IPAM hands them out.
//
// Contract:
// - Ipv4Net::parse accepts "a.b.c.d/n" (0 <= n <= 32) and normalises the
//   address to the network ("172.18.0.5/16" -> 172.18.0.0/16 is NOT
//   silently accepted: parse_strict rejects host bits, parse keeps them).
// - pick_subnet returns the first of docker's default pools
//   (172.17.0.0/16 .. 172.31.0.0/16, then 192.168.0.0/20 .. 192.168.240.0/20)
//   that overlaps none of in_use; nullopt when all are taken.
// - AddressAllocator hands out the lowest free address of the subnet (or of
//   ip_range inside it), never the network address, the broadcast address
//   or the gateway; reserve() takes a specific one (--ip), failing when it is
//   taken or outside the subnet; release() returns one. Its state
//   round-trips through JSON so allocations survive a daemon restart.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::network {

std::optional<uint32_t> parse_ipv4(const std::string& s);  // host byte order
std::string ipv4_string(uint32_t addr);

struct Ipv4Net {
  uint32_t addr = 0;  // host byte order
  int prefix = 0;

  static Ipv4Net parse(const std::string& cidr);         // throws Error "invalid CIDR address: x"
  static Ipv4Net parse_strict(const std::string& cidr);  // also throws when host bits are set
  uint32_t mask() const;
  uint32_t network() const { return addr & mask(); }
  uint32_t broadcast() const { return network() | ~mask(); }
  bool contains(uint32_t a) const { return (a & mask()) == network(); }
  bool overlaps(const Ipv4Net& o) const;
  std::string str() const;  // "a.b.c.d/n" with addr as given
};

std::optional<Ipv4Net> pick_subnet(const std::vector<Ipv4Net>& in_use);

// Docker's MAC for an IPv4 address: 02:42 followed by the address's bytes.
std::string mac_for_ipv4(uint32_t addr);

class AddressAllocator {
 public:
  AddressAllocator() = default;
  // gateway is excluded from allocation (0: none).
  AddressAllocator(Ipv4Net subnet, uint32_t gateway, std::optional<Ipv4Net> ip_range = std::nullopt);

  uint32_t allocate();           // throws Error "no available IPv4 addresses on this network's address pools: <net>"
  void reserve(uint32_t addr);   // throws Error "Address already in use" / "no configured subnet or ip-range contain the IP address <a>"
  void release(uint32_t addr);   // unknown addresses are ignored
  bool in_use(uint32_t addr) const { return used_.count(addr) > 0; }

  nlohmann::json to_json() const;
  static AddressAllocator from_json(const nlohmann::json& j);

 private:
  Ipv4Net subnet_;
  uint32_t gateway_ = 0;
  std::optional<Ipv4Net> range_;
  std::set<uint32_t> used_;
};

}  // namespace berth::network
