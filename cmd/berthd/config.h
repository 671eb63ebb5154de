// berthd's settings: dockerd's flag names, and the daemon.json keys that
// mirror them (hosts, data-root, exec-root, pidfile, log-level, debug,
// default-runtime, runtimes, registry-mirrors, insecure-registries,
// max-concurrent-downloads, max-concurrent-uploads, bridge, bip, mtu,
// iptables, ip-masq, ip, dns).
//
// Contract: as in dockerd, a setting given both as a flag and in the config
// file is an error (the daemon does not guess which one was meant), except
// runtimes, which --add-runtime extends; unknown
// keys are returned so main can warn about them (dockerd's many other keys
// are not errors, just not implemented yet).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/system_routes.h"

namespace berth::berthd {

struct DaemonConfig {
  std::vector<std::string> hosts;
  std::string data_root = "/var/lib/berth";
  std::string exec_root = "/run/berth";
  std::string pidfile = "/run/berthd.pid";
  std::string log_level = "info";
  bool debug = false;
  std::string default_runtime = "berth-runtime";
  std::map<std::string, api::RuntimeInfo> runtimes;
  std::vector<std::string> registry_mirrors;
  std::vector<std::string> insecure_registries;
  int max_concurrent_downloads = 3;
  int max_concurrent_uploads = 5;
  std::string bridge = "berth0";  // -b: the default bridge device; "none": no default bridge network
  std::string bip;                // --bip: its address, e.g. "172.20.0.1/16"
  int mtu = 1500;
  bool iptables = true;           // NAT, isolation and published ports (nftables here)
  bool ip_masq = true;
  std::string ip = "0.0.0.0";     // --ip: default host address of published ports
  std::vector<std::string> dns;
};

// Applies the file's keys to cfg. flags_given names the daemon.json keys
// that were also set on the command line. Returns the keys it ignored.
std::vector<std::string> merge_config_file(const std::string& path, const std::set<std::string>& flags_given,
                                           DaemonConfig* cfg);

// "name=path" from --add-runtime.
void add_runtime_flag(std::string_view spec, DaemonConfig* cfg);

// One -H value: unix:///path (unix:// alone means default_socket) or
// tcp://host:port. Throws Error on anything else.
struct ListenAddr {
  bool is_unix = true;
  std::string path;
  std::string host;
  uint16_t port = 0;
};
ListenAddr parse_host(std::string_view spec, const std::string& default_socket);

}  // namespace berth::berthd
