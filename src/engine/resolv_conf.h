// The /etc/resolv.conf a container gets, by docker's rules.
//
// Contract (moby libnetwork/resolvconf + sandbox_dns_unix.go):
// - host_net: the host's file, with the container's --dns/--dns-search/
//   --dns-option overriding its lines.
// - embedded_dns (a user-defined network): the only nameserver is
//   127.0.0.11 (the embedded server forwards to the real ones) and
//   "options ndots:0" is added unless the user set ndots.
// - otherwise: the container's --dns, else the daemon's --dns, else the
//   host's nameservers without
//   loopback ones (unreachable from the container's namespace), else
//   docker's fallback 8.8.8.8 and 8.8.4.4.
// - search and options: the container's (--dns-search "." clears them),
//   else the host's.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

// host_config: HostConfig (Dns, DnsSearch, DnsOptions); host_resolv_conf:
// the host's file's text; daemon_dns: berthd's --dns.
std::string container_resolv_conf(const nlohmann::json& host_config, const std::string& host_resolv_conf,
                                  const std::vector<std::string>& daemon_dns, bool embedded_dns, bool host_net);

}  // namespace berth::engine
