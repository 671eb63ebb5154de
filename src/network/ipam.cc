#include "network/ipam.h"

#include <fmt/format.h>

#include "base/error.h"
#include "base/strings.h"

namespace berth::network {

namespace {

// Decimal 0..255 without sign or leading zeros ("010" is refused, as Go's
// net.ParseIP refuses it: octal or decimal would be a guess).
bool parse_octet(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 255) return false;
  *out = v;
  return true;
}

Ipv4Net parse_cidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) fail("invalid CIDR address: {}", cidr);
  auto addr = parse_ipv4(cidr.substr(0, slash));
  std::string_view len = std::string_view(cidr).substr(slash + 1);
  unsigned long long prefix = 0;
  bool leading_zero = len.size() > 1 && len[0] == '0';
  if (!addr || len.empty() || len.size() > 2 || leading_zero || !parse_uint64(len, &prefix) || prefix > 32)
    fail("invalid CIDR address: {}", cidr);
  return Ipv4Net{*addr, static_cast<int>(prefix)};
}

// Docker's default address pools (daemon.json "default-address-pools" unset).
std::vector<Ipv4Net> default_pools() {
  std::vector<Ipv4Net> pools;
  for (uint32_t b = 17; b <= 31; ++b) pools.push_back({(172u << 24) | (b << 16), 16});
  for (uint32_t c = 0; c < 256; c += 16) pools.push_back({(192u << 24) | (168u << 16) | (c << 8), 20});
  return pools;
}

// Addresses never handed out: the gateway, and the network and broadcast
// addresses (RFC 3021: a /31 or /32 has none to spare).
bool is_excluded(const Ipv4Net& subnet, uint32_t gateway, uint32_t a) {
  if (gateway != 0 && a == gateway) return true;
  return subnet.prefix <= 30 && (a == subnet.network() || a == subnet.broadcast());
}

}  // namespace

std::optional<uint32_t> parse_ipv4(const std::string& s) {
  auto parts = split(s, '.');
  if (parts.size() != 4) return std::nullopt;
  uint32_t addr = 0;
  for (const auto& p : parts) {
    uint32_t octet = 0;
    if (!parse_octet(p, &octet)) return std::nullopt;
    addr = (addr << 8) | octet;
  }
  return addr;
}

std::string ipv4_string(uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

Ipv4Net Ipv4Net::parse(const std::string& cidr) { return parse_cidr(cidr); }

Ipv4Net Ipv4Net::parse_strict(const std::string& cidr) {
  Ipv4Net net = parse_cidr(cidr);
  if (net.addr != net.network())
    fail("invalid subnet {}: it should be {}/{}", cidr, ipv4_string(net.network()), net.prefix);
  return net;
}

uint32_t Ipv4Net::mask() const { return prefix <= 0 ? 0 : ~uint32_t{0} << (32 - prefix); }

bool Ipv4Net::overlaps(const Ipv4Net& o) const { return contains(o.network()) || o.contains(network()); }

std::string Ipv4Net::str() const { return fmt::format("{}/{}", ipv4_string(addr), prefix); }

std::optional<Ipv4Net> pick_subnet(const std::vector<Ipv4Net>& in_use) {
  for (const Ipv4Net& pool : default_pools()) {
    bool taken = false;
    for (const Ipv4Net& used : in_use) taken = taken || pool.overlaps(used);
    if (!taken) return pool;
  }
  return std::nullopt;
}

std::string mac_for_ipv4(uint32_t a) {
  return fmt::format("02:42:{:02x}:{:02x}:{:02x}:{:02x}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

AddressAllocator::AddressAllocator(Ipv4Net subnet, uint32_t gateway, std::optional<Ipv4Net> ip_range)
    : subnet_(subnet), gateway_(gateway), range_(ip_range) {
  if (range_ && !(subnet_.contains(range_->network()) && subnet_.contains(range_->broadcast()) &&
                  range_->prefix >= subnet_.prefix))
    fail("invalid ip-range {}: it must be inside subnet {}", range_->str(), subnet_.str());
}

uint32_t AddressAllocator::allocate() {
  const Ipv4Net& pool = range_ ? *range_ : subnet_;
  // Each step either returns or passes an excluded or used address, so a
  // free address is found within used_.size() + 3 steps.
  for (uint64_t a = pool.network(); a <= pool.broadcast(); ++a) {
    auto addr = static_cast<uint32_t>(a);
    if (is_excluded(subnet_, gateway_, addr) || used_.count(addr)) continue;
    used_.insert(addr);
    return addr;
  }
  fail("no available IPv4 addresses on this network's address pools: {}", subnet_.str());
}

void AddressAllocator::reserve(uint32_t addr) {
  // Static addresses may lie anywhere in the subnet: ip-range only limits
  // what allocate() hands out (docker checks the master pool too).
  if (!subnet_.contains(addr))
    fail("no configured subnet or ip-range contain the IP address {}", ipv4_string(addr));
  if (is_excluded(subnet_, gateway_, addr) || used_.count(addr)) fail("Address already in use");
  used_.insert(addr);
}

void AddressAllocator::release(uint32_t addr) { used_.erase(addr); }

nlohmann::json AddressAllocator::to_json() const {
  nlohmann::json j;
  j["subnet"] = subnet_.str();
  j["gateway"] = gateway_ ? ipv4_string(gateway_) : "";
  j["ip_range"] = range_ ? range_->str() : "";
  auto& allocated = j["allocated"] = nlohmann::json::array();
  for (uint32_t a : used_) allocated.push_back(ipv4_string(a));
  return j;
}

AddressAllocator AddressAllocator::from_json(const nlohmann::json& j) {
  try {
    auto address = [](const std::string& s) {
      auto a = parse_ipv4(s);
      if (!a) fail("invalid IP address: {}", s);
      return *a;
    };
    std::string gateway = j.value("gateway", "");
    std::string range = j.value("ip_range", "");
    AddressAllocator alloc(Ipv4Net::parse(j.at("subnet").get<std::string>()),
                           gateway.empty() ? 0 : address(gateway),
                           range.empty() ? std::nullopt : std::optional(Ipv4Net::parse(range)));
    if (j.contains("allocated"))
      for (const auto& a : j.at("allocated")) alloc.used_.insert(address(a.get<std::string>()));
    return alloc;
  } catch (const nlohmann::json::exception& e) {
    fail("invalid IPAM state: {}", e.what());
  } catch (const Error& e) {
    throw e.wrap("invalid IPAM state");
  }
}

}  // namespace berth::network
