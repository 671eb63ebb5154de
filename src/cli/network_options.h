// docker 28's parsing of networking flags, so berth sends the request bodies
// the docker CLI sends: `run --network` (also its advanced
// "name=x,alias=y,ip=..." form) with --network-alias/--ip/--ip6/--link/
// --link-local-ip/--mac-address, -p/--publish and --expose, and
// `network create`'s --subnet/--ip-range/--gateway/--aux-address.
//
// Contract: pure functions over strings and JSON; nothing talks to the
// daemon. Every rejection throws berth::Error worded as docker words it
// ("invalid containerPort: x", "no matching subnet for gateway 10.2.0.1");
// parse_network_flag's message is the reason only, for the caller's
// `invalid argument "..." for "--network" flag: <reason>`. Addresses are
// passed on as typed (docker 28 does not normalise them).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::cli {

// One record of Go's encoding/csv (how pflag splits "strings" flags such as
// --alias a,b and how --network's advanced form is read).
std::vector<std::string> csv_fields(std::string_view line);

// One --network value.
struct NetworkAttachment {
  std::string target;
  std::vector<std::string> aliases;
  std::map<std::string, std::string> driver_opts;
  std::vector<std::string> links;
  std::string ipv4, ipv6, mac_address;
  std::vector<std::string> link_local_ips;
  int64_t gw_priority = 0;
};
NetworkAttachment parse_network_flag(const std::string& value);

// The container-wide flags docker applies to the first --network.
struct LegacyEndpointFlags {
  std::vector<std::string> aliases, links, link_local_ips;
  std::string ipv4, ipv6, mac_address;
};

// True for a network docker calls user-defined: not default, bridge, host,
// none or container:<id>.
bool is_user_defined_network(std::string_view mode);

// HostConfig.NetworkMode and NetworkingConfig.EndpointsConfig for the given
// --network values (none given means "default"), as docker's parseNetworkOpts
// builds them.
struct Networking {
  std::string network_mode;
  nlohmann::json endpoints;  // {"name": EndpointSettings, ...}
};
Networking networking_config(const std::vector<NetworkAttachment>& networks, const LegacyEndpointFlags& legacy);

// A container's EndpointSettings as the docker CLI serialises one.
nlohmann::json endpoint_settings(const NetworkAttachment& a);

// -p/--publish (also "published=8080,target=80,protocol=udp") into the
// create body's ExposedPorts and HostConfig.PortBindings.
void add_published_port(const std::string& spec, nlohmann::json& exposed, nlohmann::json& bindings);
// --expose "80", "7000-7010/udp" into ExposedPorts.
void add_exposed_port(const std::string& spec, nlohmann::json& exposed);

// pflag-time validators of run's --dns, --add-host and --dns-search: the
// value docker sends, or berth::Error with docker's reason.
std::string validate_ip_address(const std::string& value);  // normalised, as Go's ip.String()
std::string validate_extra_host(const std::string& value);  // "host:ip"
std::string validate_dns_search(const std::string& value);

// Go's net.ParseMAC: 6, 8 or 20 octets as xx:xx.., xx-xx.. or xxxx.xxxx...
bool valid_mac(std::string_view s);

// docker's ValidateLabel: returns the error text, or "" when `label` is fine.
std::string label_error(const std::string& label);
// docker's ConvertKVStringsToMap ("k=v" -> {"k":"v"}, "k" -> {"k":""}).
nlohmann::json kv_map(const std::vector<std::string>& kvs);

// network create's IPAM.Config entries from the subnet/range/gateway/aux
// flags (docker's createIPAMConfig), in the order the subnets were given.
struct IpamFlags {
  std::vector<std::string> subnets, ranges, gateways;
  std::vector<std::pair<std::string, std::string>> aux;  // name, address
};
nlohmann::json ipam_configs(const IpamFlags& flags);

}  // namespace berth::cli
