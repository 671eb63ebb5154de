#include "cli/network_options.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <regex>
#include <tuple>

#include "base/error.h"
#include "base/strings.h"
#include "cli/units.h"

namespace berth::cli {

using json = nlohmann::json;

namespace {

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string go_trim(std::string_view s) { return std::string(trim(s)); }

std::pair<std::string, std::string> cut(std::string_view s, char sep, bool* found = nullptr) {
  size_t i = s.find(sep);
  if (found) *found = i != std::string_view::npos;
  if (i == std::string_view::npos) return {std::string(s), ""};
  return {std::string(s.substr(0, i)), std::string(s.substr(i + 1))};
}

// Go's strconv.Atoi error text, unwrapped as docker prints it.
bool parse_go_int(const std::string& s, int64_t* out, std::string* why) {
  long long v;
  if (parse_int64(s.starts_with('+') ? std::string_view(s).substr(1) : std::string_view(s), &v)) {
    *out = v;
    return true;
  }
  bool digits = !s.empty() && std::all_of(s.begin() + (s[0] == '-' || s[0] == '+'), s.end(),
                                          [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  *why = digits && s.size() > 1 ? "value out of range" : "invalid syntax";
  return false;
}

// Go's strconv.ParseUint(s, 10, 16), with its error text.
uint64_t parse_port(const std::string& s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    fail("strconv.ParseUint: parsing {}: invalid syntax", go_quote(s));
  unsigned long long v;
  if (!parse_uint64(s, &v) || v > 65535) fail("strconv.ParseUint: parsing {}: value out of range", go_quote(s));
  return v;
}

// go-connections' ParsePortRange as docker 28 vendors it ("1-2-3" reads as 1-2).
std::pair<uint64_t, uint64_t> parse_port_range(const std::string& ports) {
  if (ports.empty()) fail("empty string specified for ports");
  if (ports.find('-') == std::string::npos) {
    uint64_t p = parse_port(ports);
    return {p, p};
  }
  std::vector<std::string> parts = split(ports, '-');
  uint64_t start = parse_port(parts[0]), end = parse_port(parts[1]);
  if (end < start) fail("invalid range specified for port: {}", ports);
  return {start, end};
}

// go-connections' SplitProtoPort: ("tcp", "80") for "80", ("", "") for "/udp".
std::pair<std::string, std::string> split_proto_port(const std::string& raw) {
  std::vector<std::string> parts = split(raw, '/');
  if (raw.empty() || parts[0].empty()) return {"", ""};
  if (parts.size() == 1 || parts[1].empty()) return {"tcp", parts[0]};
  return {parts[1], parts[0]};
}

// Go's net.SplitHostPort(ip + ":") for a bracketed IPv6 host.
std::string strip_brackets(const std::string& ip) {
  std::string hp = ip + ":";
  auto bad = [&](const char* why) { fail("invalid IP address {}: address {}: {}", ip, hp, why); };
  size_t end = hp.find(']');
  if (end == std::string::npos) bad("missing ']' in address");
  if (end + 1 != hp.size() - 1) bad(hp[end + 1] == ':' ? "too many colons in address" : "missing port in address");
  std::string host = hp.substr(1, end - 1);
  if (hp.find('[', 1) != std::string::npos) bad("unexpected '[' in address");
  if (hp.find(']', end + 1) != std::string::npos) bad("unexpected ']' in address");
  return host;
}

struct Ip {
  int len = 0;  // 4 or 16 bytes
  unsigned char b[16] = {};
};

std::optional<Ip> parse_ip(std::string_view s) {
  std::string str(s);
  Ip ip;
  if (inet_pton(AF_INET, str.c_str(), ip.b) == 1) {
    ip.len = 4;
    return ip;
  }
  if (inet_pton(AF_INET6, str.c_str(), ip.b) == 1) {
    ip.len = 16;
    return ip;
  }
  return std::nullopt;
}

struct Cidr {
  Ip ip;
  int bits = 0;
};

// Go's net.ParseCIDR.
std::optional<Cidr> parse_cidr(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = parse_ip(s.substr(0, slash));
  std::string_view mask = s.substr(slash + 1);
  if (!ip || mask.empty() || mask.size() > 4 ||
      !std::all_of(mask.begin(), mask.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int bits = std::stoi(std::string(mask));
  if (bits > ip->len * 8) return std::nullopt;
  return Cidr{*ip, bits};
}

bool contains(const Cidr& net, const Ip& ip) {
  if (net.ip.len != ip.len) return false;
  for (int bit = 0; bit < net.bits; ++bit) {
    unsigned char m = static_cast<unsigned char>(0x80 >> (bit % 8));
    if ((net.ip.b[bit / 8] & m) != (ip.b[bit / 8] & m)) return false;
  }
  return true;
}

// docker's subnetMatches: is `data` (an address, or CIDR) inside `subnet`?
bool subnet_matches(const std::string& subnet, const std::string& data) {
  auto net = parse_cidr(subnet);
  if (!net) fail("invalid subnet: invalid CIDR address: {}", subnet);
  std::optional<Ip> ip;
  if (data.find('/') != std::string::npos) {
    auto c = parse_cidr(data);
    if (!c) fail("invalid CIDR address: {}", data);
    ip = c->ip;
  } else {
    ip = parse_ip(data);
  }
  return ip && contains(*net, *ip);
}

bool hex_digit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::vector<std::string> csv_fields(std::string_view line) {
  std::vector<std::string> fields;
  if (line.empty()) return fields;
  size_t i = 0;
  while (true) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      size_t j = i + 1;
      while (true) {
        if (j >= line.size()) fail("parse error on line 1, column {}: extraneous or missing \" in quoted-field", j + 1);
        if (line[j] == '"') {
          if (j + 1 < line.size() && line[j + 1] == '"') {
            field += '"';
            j += 2;
            continue;
          }
          ++j;
          break;
        }
        field += line[j++];
      }
      // Go reports the column of the closing quote that something follows.
      if (j < line.size() && line[j] != ',')
        fail("parse error on line 1, column {}: extraneous or missing \" in quoted-field", j);
      i = j;
    } else {
      size_t end = line.find(',', i);
      if (end == std::string_view::npos) end = line.size();
      field = std::string(line.substr(i, end - i));
      if (size_t q = field.find('"'); q != std::string::npos)
        fail("parse error on line 1, column {}: bare \" in non-quoted-field", i + q + 1);
      i = end;
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the comma
    if (i == line.size()) {
      fields.emplace_back();
      break;
    }
  }
  return fields;
}

NetworkAttachment parse_network_flag(const std::string& value) {
  NetworkAttachment a;
  // docker's test for the advanced form: the regexp \w+=\w+ anywhere.
  bool long_syntax = false;
  for (size_t i = 1; i + 1 < value.size() && !long_syntax; ++i)
    long_syntax = value[i] == '=' && is_word(value[i - 1]) && is_word(value[i + 1]);
  if (!long_syntax) {
    a.target = value;
    return a;
  }
  for (const std::string& field : csv_fields(value)) {
    bool has_eq;
    auto [key, val] = cut(field, '=', &has_eq);
    if (!has_eq || key.empty()) fail("invalid field {}", field);
    key = go_trim(key);
    val = go_trim(val);
    if (key == "name") {
      a.target = val;
    } else if (key == "alias") {
      a.aliases.push_back(val);
    } else if (key == "ip") {
      a.ipv4 = val;
    } else if (key == "ip6") {
      a.ipv6 = val;
    } else if (key == "mac-address") {
      a.mac_address = val;
    } else if (key == "link-local-ip") {
      a.link_local_ips.push_back(val);
    } else if (key == "driver-opt") {
      bool ok;
      auto [k, v] = cut(val, '=', &ok);
      if (!ok || k.empty()) fail("invalid key value pair format in driver options");
      a.driver_opts[go_trim(k)] = go_trim(v);
    } else if (key == "gw-priority") {
      std::string why;
      if (!parse_go_int(val, &a.gw_priority, &why)) fail("invalid gw-priority ({}): {}", val, why);
    } else {
      fail("invalid field key {}", key);
    }
  }
  if (a.target.empty()) fail("network name/id is not specified");
  return a;
}

bool is_user_defined_network(std::string_view mode) {
  return mode != "default" && mode != "bridge" && mode != "host" && mode != "none" && !mode.starts_with("container:");
}

json endpoint_settings(const NetworkAttachment& a) {
  json ipam = nullptr;
  if (!a.ipv4.empty() || !a.ipv6.empty() || !a.link_local_ips.empty()) {
    ipam = json::object();
    if (!a.ipv4.empty()) ipam["IPv4Address"] = a.ipv4;
    if (!a.ipv6.empty()) ipam["IPv6Address"] = a.ipv6;
    if (!a.link_local_ips.empty()) ipam["LinkLocalIPs"] = a.link_local_ips;
  }
  return {{"IPAMConfig", ipam},
          {"Links", a.links.empty() ? json(nullptr) : json(a.links)},
          {"Aliases", a.aliases.empty() ? json(nullptr) : json(a.aliases)},
          {"MacAddress", a.mac_address},
          {"DriverOpts", a.driver_opts.empty() ? json(nullptr) : json(a.driver_opts)},
          {"GwPriority", a.gw_priority},
          {"NetworkID", ""},
          {"EndpointID", ""},
          {"Gateway", ""},
          {"IPAddress", ""},
          {"IPPrefixLen", 0},
          {"IPv6Gateway", ""},
          {"GlobalIPv6Address", ""},
          {"GlobalIPv6PrefixLen", 0},
          {"DNSNames", nullptr}};
}

namespace {

// docker's applyContainerOptions: the container-wide flags land on one network.
void apply_legacy(NetworkAttachment& n, const LegacyEndpointFlags& l) {
  if (!n.aliases.empty() && !l.aliases.empty())
    fail("conflicting options: cannot specify both --network-alias and per-network alias");
  if (!n.links.empty() && !l.links.empty())
    fail("conflicting options: cannot specify both --link and per-network links");
  if (!n.ipv4.empty() && !l.ipv4.empty())
    fail("conflicting options: cannot specify both --ip and per-network IPv4 address");
  if (!n.ipv6.empty() && !l.ipv6.empty())
    fail("conflicting options: cannot specify both --ip6 and per-network IPv6 address");
  if (!n.mac_address.empty() && !l.mac_address.empty())
    fail("conflicting options: cannot specify both --mac-address and per-network MAC address");
  if (!n.link_local_ips.empty() && !l.link_local_ips.empty())
    fail("conflicting options: cannot specify both --link-local-ip and per-network link-local IP addresses");
  if (!l.aliases.empty()) n.aliases = l.aliases;
  // On a user-defined network --link makes an alias; on the default bridge
  // it is a legacy link, which HostConfig.Links carries.
  if (is_user_defined_network(n.target) && !l.links.empty()) n.links = l.links;
  if (!l.ipv4.empty()) n.ipv4 = l.ipv4;
  if (!l.ipv6.empty()) n.ipv6 = l.ipv6;
  if (!l.mac_address.empty()) n.mac_address = l.mac_address;
  if (!l.link_local_ips.empty()) n.link_local_ips = l.link_local_ips;
}

// docker's parseNetworkAttachmentOpt checks.
void check_attachment(const NetworkAttachment& n) {
  if (trim(n.target).empty()) fail("no name set for network");
  if (!is_user_defined_network(n.target)) {
    if (!n.aliases.empty()) fail("network-scoped aliases are only supported for user-defined networks");
    if (!n.links.empty()) fail("links are only supported for user-defined networks");
  }
  if (!n.mac_address.empty() && !valid_mac(trim(n.mac_address))) fail("{} is not a valid mac address", n.mac_address);
}

bool is_zero(const NetworkAttachment& n) {
  return n.aliases.empty() && n.driver_opts.empty() && n.links.empty() && n.ipv4.empty() && n.ipv6.empty() &&
         n.link_local_ips.empty() && n.mac_address.empty() && n.gw_priority == 0;
}

}  // namespace

Networking networking_config(const std::vector<NetworkAttachment>& networks, const LegacyEndpointFlags& legacy) {
  Networking out{networks.empty() ? "default" : networks[0].target, json::object()};
  if (networks.empty()) {
    NetworkAttachment n;
    n.target = "default";
    apply_legacy(n, legacy);
    check_attachment(n);
    out.endpoints["default"] = endpoint_settings(n);
  }
  bool user_defined = false, other = false;
  for (size_t i = 0; i < networks.size(); ++i) {
    NetworkAttachment n = networks[i];
    (is_user_defined_network(n.target) ? user_defined : other) = true;
    if (i == 0) apply_legacy(n, legacy);
    check_attachment(n);
    if (out.endpoints.contains(n.target)) fail("network {} is specified multiple times", go_quote(n.target));
    // A lone network without options gets no endpoint entry (the daemon
    // makes one), as docker sends it.
    if (i == 0 && networks.size() == 1 && is_zero(n)) continue;
    out.endpoints[n.target] = endpoint_settings(n);
  }
  if (user_defined && other)
    fail("conflicting options: cannot attach both user-defined and non-user-defined network-modes");
  return out;
}

void add_published_port(const std::string& given, json& exposed, json& bindings) {
  std::string raw = given;
  if (given.find('=') != std::string::npos) {
    std::map<std::string, std::string> params = {{"protocol", "tcp"}};
    for (const std::string& param : split(given, ',')) {
      bool ok;
      auto [k, v] = cut(param, '=', &ok);
      if (!ok || k.empty()) fail("invalid publish opts format (should be name=value but got '{}')", param);
      params[k] = v;
    }
    raw = params["published"] + ":" + params["target"] + "/" + params["protocol"];
  }
  std::vector<std::string> parts = split(raw, ':');
  std::string ip, host_port, container;
  size_t n = parts.size();
  if (n == 1) {
    container = parts[0];
  } else if (n == 2) {
    host_port = parts[0], container = parts[1];
  } else {
    container = parts[n - 1];
    host_port = parts[n - 2];
    parts.resize(n - 2);
    ip = join(parts, ":");
  }
  auto [proto, cport] = split_proto_port(container);
  if (!ip.empty() && ip[0] == '[') ip = strip_brackets(ip);
  if (!ip.empty() && !parse_ip(ip)) fail("invalid IP address: {}", ip);
  if (cport.empty()) fail("no port specified: {}<empty>", raw);
  std::pair<uint64_t, uint64_t> cr, hr{0, 0};
  try {
    cr = parse_port_range(cport);
  } catch (const Error&) {
    fail("invalid containerPort: {}", cport);
  }
  if (!host_port.empty()) {
    try {
      hr = parse_port_range(host_port);
    } catch (const Error&) {
      fail("invalid hostPort: {}", host_port);
    }
    // A host range with a single container port is a range to pick from.
    if (cr.second - cr.first != hr.second - hr.first && cr.second != cr.first)
      fail("invalid ranges specified for container and host Ports: {} and {}", cport, host_port);
  }
  for (char& c : proto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (proto != "tcp" && proto != "udp" && proto != "sctp") fail("invalid proto: {}", proto);
  uint64_t count = cr.second - cr.first + 1;
  for (uint64_t i = 0; i < count; ++i) {
    std::string key = std::to_string(cr.first + i) + "/" + proto;
    std::string hp;
    if (!host_port.empty()) {
      hp = std::to_string(hr.first + i);
      if (count == 1 && hr.first != hr.second) hp += "-" + std::to_string(hr.second);
    }
    exposed[key] = json::object();
    if (!bindings.contains(key)) bindings[key] = json::array();
    bindings[key].push_back({{"HostIp", ip}, {"HostPort", hp}});
  }
}

void add_exposed_port(const std::string& spec, json& exposed) {
  if (spec.find(':') != std::string::npos) fail("invalid port format for --expose: {}", spec);
  auto [proto, port] = split_proto_port(spec);
  std::pair<uint64_t, uint64_t> r;
  try {
    r = parse_port_range(port);
  } catch (const Error& e) {
    fail("invalid range format for --expose: {}, error: {}", spec, e.what());
  }
  for (uint64_t p = r.first; p <= r.second; ++p) exposed[std::to_string(p) + "/" + proto] = json::object();
}

std::string validate_ip_address(const std::string& value) {
  auto ip = parse_ip(trim(value));
  if (!ip) fail("IP address is not correctly formatted: {}", value);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(ip->len == 4 ? AF_INET : AF_INET6, ip->b, buf, sizeof buf);
  return buf;
}

std::string validate_extra_host(const std::string& value) {
  bool ok;
  auto [host, ip] = cut(value, '=', &ok);
  if (!ok) std::tie(host, ip) = cut(value, ':', &ok);
  // A colon cannot be part of a host name: the API joins host and IP with one.
  if (!ok || host.empty() || host.find(':') != std::string::npos)
    fail("bad format for add-host: {}", go_quote(value));
  if (ip != "host-gateway") {
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    if (!parse_ip(trim(ip))) fail("invalid IP address in add-host: {}", go_quote(ip));
  }
  return host + ":" + ip;
}

std::string validate_dns_search(const std::string& value) {
  std::string v = value;
  v.erase(0, v.find_first_not_of(' '));
  v.erase(v.find_last_not_of(' ') + 1);
  if (v == ".") return v;
  static const std::regex domain(
      R"(^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$)");
  std::smatch m;
  bool has_alpha = std::any_of(v.begin(), v.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
  if (!has_alpha || !std::regex_search(v, m, domain) || m[1].length() >= 255) fail("{} is not a valid domain", v);
  return m[1].str();
}

bool valid_mac(std::string_view s) {
  if (s.size() < 14) return false;
  size_t groups, width;
  char sep;
  if (s[2] == ':' || s[2] == '-') {
    if ((s.size() + 1) % 3 != 0) return false;
    groups = (s.size() + 1) / 3, width = 2, sep = s[2];
  } else if (s[4] == '.') {
    if ((s.size() + 1) % 5 != 0) return false;
    groups = (s.size() + 1) / 5, width = 4, sep = '.';
  } else {
    return false;
  }
  size_t octets = groups * width / 2;
  if (octets != 6 && octets != 8 && octets != 20) return false;
  for (size_t g = 0; g < groups; ++g) {
    size_t at = g * (width + 1);
    for (size_t k = 0; k < width; ++k)
      if (!hex_digit(s[at + k])) return false;
    if (g + 1 < groups && s[at + width] != sep) return false;
  }
  return true;
}

std::string label_error(const std::string& label) {
  std::string key = cut(label, '=').first;
  key.erase(0, key.find_first_not_of(" \t"));
  if (key.empty() || key.find_first_not_of(" \t") == std::string::npos)
    return fmt::format("invalid label '{}': empty name", label);
  if (key.find_first_of(" \t") != std::string::npos) return fmt::format("label '{}' contains whitespaces", key);
  return "";
}

json kv_map(const std::vector<std::string>& kvs) {
  json m = json::object();
  for (const std::string& kv : kvs) {
    auto [k, v] = cut(kv, '=');
    m[k] = v;
  }
  return m;
}

json ipam_configs(const IpamFlags& f) {
  if (f.subnets.size() < f.ranges.size() || f.subnets.size() < f.gateways.size())
    fail("every ip-range or gateway must have a corresponding subnet");
  std::vector<std::string> order;
  std::map<std::string, json> configs;
  for (const std::string& s : f.subnets) {
    for (const std::string& k : order)
      if (subnet_matches(s, k) || subnet_matches(k, s))
        fail("multiple overlapping subnet configuration is not supported");
    order.push_back(s);
    configs[s] = {{"Subnet", s}};
  }
  for (const std::string& r : f.ranges) {
    if (!parse_cidr(r)) fail("invalid CIDR address: {}", r);
    bool match = false;
    for (const std::string& s : f.subnets) {
      if (!subnet_matches(s, r)) continue;
      if (configs[s].contains("IPRange"))
        fail("cannot configure multiple ranges ({}, {}) on the same subnet ({})", r,
             configs[s]["IPRange"].get<std::string>(), s);
      configs[s]["IPRange"] = r;
      match = true;
    }
    if (!match) fail("no matching subnet for range {}", r);
  }
  for (const std::string& g : f.gateways) {
    bool match = false;
    for (const std::string& s : f.subnets) {
      if (!subnet_matches(s, g)) continue;
      if (configs[s].contains("Gateway"))
        fail("cannot configure multiple gateways ({}, {}) for the same subnet ({})", g,
             configs[s]["Gateway"].get<std::string>(), s);
      configs[s]["Gateway"] = g;
      match = true;
    }
    if (!match) fail("no matching subnet for gateway {}", g);
  }
  for (const auto& [name, addr] : f.aux) {
    bool match = false;
    for (const std::string& s : f.subnets) {
      if (!subnet_matches(s, addr)) continue;
      configs[s]["AuxiliaryAddresses"][name] = addr;
      match = true;
    }
    if (!match) fail("no matching subnet for aux-address {}", addr);
  }
  json out = json::array();
  for (const std::string& s : order) out.push_back(configs[s]);
  return out;
}

}  // namespace berth::cli
