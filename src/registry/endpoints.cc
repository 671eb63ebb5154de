#include "registry/endpoints.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "base/strings.h"

namespace berth::registry {

namespace {

// "host:port" / "[v6]:port" / "host" -> host.
std::string strip_port(const std::string& host) {
  if (host.starts_with("[")) {
    auto close = host.find(']');
    return close == std::string::npos ? host : host.substr(1, close - 1);
  }
  auto colon = host.rfind(':');
  if (colon != std::string::npos && host.find(':') == colon) return host.substr(0, colon);
  return host;
}

bool in_cidr4(in_addr addr, const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  in_addr net{};
  unsigned long long bits = 0;
  if (::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &net) != 1) return false;
  if (!parse_uint64(cidr.substr(slash + 1), &bits) || bits > 32) return false;
  uint32_t mask = bits == 0 ? 0 : htonl(~uint32_t{0} << (32 - bits));
  return (addr.s_addr & mask) == (net.s_addr & mask);
}

bool in_cidr6(const in6_addr& addr, const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  in6_addr net{};
  unsigned long long bits = 0;
  if (::inet_pton(AF_INET6, cidr.substr(0, slash).c_str(), &net) != 1) return false;
  if (!parse_uint64(cidr.substr(slash + 1), &bits) || bits > 128) return false;
  for (int i = 0; i < 16 && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((addr.s6_addr[i] & mask) != (net.s6_addr[i] & mask)) return false;
  }
  return true;
}

}  // namespace

std::string registry_host(const std::string& domain) {
  return domain == "docker.io" || domain == "index.docker.io" ? "registry-1.docker.io" : domain;
}

bool is_insecure_registry(const std::string& host, const RegistryConfig& config) {
  if (std::find(config.insecure_registries.begin(), config.insecure_registries.end(), host) !=
      config.insecure_registries.end())
    return true;
  std::vector<std::string> cidrs{"127.0.0.0/8"};
  for (const auto& r : config.insecure_registries)
    if (r.find('/') != std::string::npos) cidrs.push_back(r);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(strip_port(host).c_str(), nullptr, &hints, &res) != 0) return false;
  bool insecure = false;
  for (addrinfo* a = res; a && !insecure; a = a->ai_next) {
    for (const auto& cidr : cidrs) {
      if (a->ai_family == AF_INET && in_cidr4(reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, cidr)) insecure = true;
      if (a->ai_family == AF_INET6 && in_cidr6(reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, cidr)) insecure = true;
    }
  }
  ::freeaddrinfo(res);
  return insecure;
}

std::vector<Endpoint> endpoints_for(const std::string& domain, const RegistryConfig& config, bool push) {
  std::vector<Endpoint> out;
  std::string host = registry_host(domain);
  if (host == "registry-1.docker.io" && !push) {
    for (std::string m : config.mirrors) {
      while (m.ends_with("/")) m.pop_back();
      if (m.find("://") == std::string::npos) m = "https://" + m;
      std::string mhost = m.substr(m.find("://") + 3);
      out.push_back({m, is_insecure_registry(mhost, config), true});
    }
  }
  bool insecure = is_insecure_registry(host, config);
  out.push_back({"https://" + host, insecure, false});
  if (insecure) out.push_back({"http://" + host, false, false});
  return out;
}

}  // namespace berth::registry
