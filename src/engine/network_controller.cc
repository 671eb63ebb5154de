#include "engine/network_controller.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <regex>

#include "base/clock.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/errors.h"
#include "engine/names.h"
#include "network/netlink.h"
#include "network/netns.h"

namespace berth::engine {

using network::Ipv4Net;
using nlohmann::json;

namespace {

constexpr const char* kBridgeNameOpt = "com.docker.network.bridge.name";
constexpr const char* kMtuOpt = "com.docker.network.driver.mtu";
constexpr const char* kMasqueradeOpt = "com.docker.network.bridge.enable_ip_masquerade";
constexpr const char* kDefaultBridgeOpt = "com.docker.network.bridge.default_bridge";

std::string short_id(const std::string& id) { return id.substr(0, 12); }

std::vector<std::string> strings_of(const json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  return s;
}

// "veth" + 7 hex, as docker names the host end.
std::string veth_name() { return "veth" + random_id().substr(0, 7); }

uint32_t parse_ip_or_fail(const std::string& s, const std::string& what) {
  auto a = network::parse_ipv4(s);
  if (!a) throw InvalidArgumentError(fmt::format("invalid {}: {}", what, s));
  return *a;
}

}  // namespace

struct NetworkController::Network {
  json doc;  // docker's network JSON without "Containers"
  std::string id, name, driver;
  std::string bridge;  // device, bridge driver only
  std::optional<Ipv4Net> subnet;
  uint32_t gateway = 0;
  std::optional<Ipv4Net> ip_range;
  std::vector<uint32_t> aux_addresses;
  bool internal = false, masquerade = true, predefined = false, default_bridge = false;
  int mtu = 1500;
  network::AddressAllocator alloc;

  void init_allocator() {
    if (!subnet) return;
    alloc = network::AddressAllocator(*subnet, gateway, ip_range);
    for (uint32_t a : aux_addresses) {
      try {
        alloc.reserve(a);
      } catch (const Error&) {
      }
    }
  }
};

struct NetworkController::Endpoint {
  std::string network_id, endpoint_id, host_ifname, ifname, mac;
  uint32_t ip = 0, gateway = 0;
  int prefix = 0;
  std::vector<std::string> aliases;  // network aliases (--network-alias, compose service names)

  json to_json() const {
    return {{"network_id", network_id}, {"endpoint_id", endpoint_id}, {"host_ifname", host_ifname},
            {"ifname", ifname},         {"mac", mac},                 {"ip", network::ipv4_string(ip)},
            {"prefix", prefix},         {"gateway", gateway ? network::ipv4_string(gateway) : ""},
            {"aliases", aliases}};
  }
  static Endpoint from_json(const json& j) {
    Endpoint ep;
    ep.network_id = j.value("network_id", "");
    ep.endpoint_id = j.value("endpoint_id", "");
    ep.host_ifname = j.value("host_ifname", "");
    ep.ifname = j.value("ifname", "");
    ep.mac = j.value("mac", "");
    ep.ip = network::parse_ipv4(j.value("ip", "")).value_or(0);
    ep.prefix = j.value("prefix", 0);
    ep.gateway = network::parse_ipv4(j.value("gateway", "")).value_or(0);
    ep.aliases = strings_of(j.value("aliases", json()));
    return ep;
  }
};

struct NetworkController::Sandbox {
  std::string container_id, name, netns_path;
  std::vector<Endpoint> endpoints;
  std::vector<network::PortMapping> mappings;
  std::vector<network::PortReservation> reservations;
  bool dns = false;

  json state() const {
    json eps = json::array(), ports = json::array();
    for (const auto& ep : endpoints) eps.push_back(ep.to_json());
    for (const auto& m : mappings)
      ports.push_back({{"proto", m.proto},
                       {"host_ip", network::ipv4_string(m.host_ip)},
                       {"host_port", m.host_port},
                       {"container_ip", network::ipv4_string(m.container_ip)},
                       {"container_port", m.container_port}});
    return {{"netns", netns_path}, {"endpoints", eps}, {"ports", ports}, {"dns", dns}};
  }
};

namespace {

std::vector<network::PortMapping> mappings_from_state(const json& state) {
  std::vector<network::PortMapping> out;
  for (const auto& p : state.value("ports", json::array())) {
    network::PortMapping m;
    m.proto = p.value("proto", "tcp");
    m.host_ip = network::parse_ipv4(p.value("host_ip", "0.0.0.0")).value_or(0);
    m.host_port = p.value("host_port", 0);
    m.container_ip = network::parse_ipv4(p.value("container_ip", "")).value_or(0);
    m.container_port = p.value("container_port", 0);
    out.push_back(m);
  }
  return out;
}

}  // namespace

NetworkController::NetworkController(NetworkControllerOptions opts) : opts_(std::move(opts)) {
  mkdir_all(path_join(opts_.data_root, "networks"), 0700);
  mkdir_all(path_join(opts_.exec_root, "netns"), 0711);
  upstreams_ = opts_.dns;
  if (upstreams_.empty()) {
    std::string text;
    if (read_file_if_exists("/etc/resolv.conf", &text)) upstreams_ = network::resolv_conf_nameservers(text);
  }
  if (opts_.firewall) firewall_ = std::make_unique<network::Firewall>(opts_.firewall_table);
  std::lock_guard lock(mu_);
  load();
  ensure_predefined();
  if (opts_.default_bridge != "none" && !opts_.default_bridge.empty()) ensure_default_bridge();
  for (auto& [id, n] : networks_) {
    if (n->driver != "bridge" || n->default_bridge) continue;
    try {
      network::Netlink().ensure_bridge({n->bridge, n->subnet ? fmt::format("{}/{}", network::ipv4_string(n->gateway), n->subnet->prefix) : "", n->mtu});
    } catch (const Error& ex) {
      fprintf(stderr, "berthd: network %s: %s\n", n->name.c_str(), ex.what());
    }
  }
  sync_firewall();
  reaper_ = std::jthread([this](std::stop_token st) { reaper_loop(st); });
}

NetworkController::~NetworkController() {
  reaper_.request_stop();
  if (reaper_.joinable()) reaper_.join();
}

void NetworkController::reaper_loop(std::stop_token stop) {
  std::unique_lock lock(mu_);
  for (;;) {
    reap_cv_.wait(lock, stop, [&] { return !to_reap_.empty(); });
    if (to_reap_.empty()) return;  // stopping, nothing left
    auto [eps, release] = std::move(to_reap_.front());
    to_reap_.pop_front();
    lock.unlock();
    try {
      network::Netlink nl;
      for (const auto& ep : eps) nl.delete_link(ep.host_ifname);
    } catch (const Error& ex) {
      fprintf(stderr, "berthd: deleting veth: %s\n", ex.what());
    }
    lock.lock();
    if (release) release_endpoints(eps);
  }
}

void NetworkController::load() {
  std::string dir = path_join(opts_.data_root, "networks");
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (struct dirent* de = ::readdir(d)) {
    std::string fname = de->d_name;
    if (fname.size() < 6 || fname.substr(fname.size() - 5) != ".json") continue;
    try {
      json rec = json::parse(read_file(path_join(dir, fname)));
      auto n = std::make_unique<Network>();
      n->doc = rec.at("network");
      n->id = n->doc.at("Id").get<std::string>();
      n->name = n->doc.at("Name").get<std::string>();
      n->driver = n->doc.value("Driver", "bridge");
      n->bridge = rec.value("bridge", "");
      n->internal = n->doc.value("Internal", false);
      n->predefined = rec.value("predefined", false);
      n->default_bridge = rec.value("default_bridge", false);
      n->mtu = rec.value("mtu", 1500);
      n->masquerade = rec.value("masquerade", true);
      if (rec.contains("subnet")) n->subnet = Ipv4Net::parse(rec["subnet"].get<std::string>());
      n->gateway = network::parse_ipv4(rec.value("gateway", "")).value_or(0);
      if (rec.contains("ip_range")) n->ip_range = Ipv4Net::parse(rec["ip_range"].get<std::string>());
      for (const auto& a : strings_of(rec.value("aux", json()))) n->aux_addresses.push_back(network::parse_ipv4(a).value_or(0));
      if (n->default_bridge && (opts_.default_bridge == "none" || opts_.default_bridge.empty())) continue;
      n->init_allocator();
      networks_[n->id] = std::move(n);
    } catch (const std::exception& ex) {
      fprintf(stderr, "berthd: skipping network record %s: %s\n", fname.c_str(), ex.what());
    }
  }
  ::closedir(d);
}

void NetworkController::persist(const Network& n) const {
  json rec = {{"network", n.doc},      {"bridge", n.bridge},   {"predefined", n.predefined},
              {"default_bridge", n.default_bridge}, {"mtu", n.mtu}, {"masquerade", n.masquerade}};
  if (n.subnet) rec["subnet"] = n.subnet->str();
  if (n.gateway) rec["gateway"] = network::ipv4_string(n.gateway);
  if (n.ip_range) rec["ip_range"] = n.ip_range->str();
  json aux = json::array();
  for (uint32_t a : n.aux_addresses) aux.push_back(network::ipv4_string(a));
  rec["aux"] = aux;
  write_file_atomic(path_join(path_join(opts_.data_root, "networks"), n.id + ".json"), rec.dump(2), 0600);
}

namespace {

json base_doc(const std::string& id, const std::string& name, const std::string& driver) {
  return {{"Name", name},
          {"Id", id},
          {"Created", now_rfc3339_nano()},
          {"Scope", "local"},
          {"Driver", driver},
          {"EnableIPv4", true},
          {"EnableIPv6", false},
          {"IPAM", {{"Driver", "default"}, {"Options", nullptr}, {"Config", json::array()}}},
          {"Internal", false},
          {"Attachable", false},
          {"Ingress", false},
          {"ConfigFrom", {{"Network", ""}}},
          {"ConfigOnly", false},
          {"Options", json::object()},
          {"Labels", json::object()}};
}

}  // namespace

void NetworkController::ensure_predefined() {
  for (const auto& [name, driver] : {std::pair{"host", "host"}, std::pair{"none", "null"}}) {
    bool found = false;
    for (const auto& [id, n] : networks_) found = found || (n->predefined && n->name == name);
    if (found) continue;
    auto n = std::make_unique<Network>();
    n->id = random_id();
    n->name = name;
    n->driver = driver;
    n->predefined = true;
    n->doc = base_doc(n->id, name, driver);
    n->doc["IPAM"]["Config"] = nullptr;
    persist(*n);
    networks_[n->id] = std::move(n);
  }
}

void NetworkController::ensure_default_bridge() {
  Network* bridge = nullptr;
  for (auto& [id, n] : networks_)
    if (n->default_bridge) bridge = n.get();
  network::Netlink nl;
  if (!bridge) {
    auto n = std::make_unique<Network>();
    n->id = random_id();
    n->name = "bridge";
    n->driver = "bridge";
    n->predefined = true;
    n->default_bridge = true;
    n->bridge = opts_.default_bridge;
    n->mtu = opts_.mtu;
    if (!opts_.default_bridge_cidr.empty()) {
      Ipv4Net given = Ipv4Net::parse(opts_.default_bridge_cidr);
      n->subnet = Ipv4Net{given.network(), given.prefix};
      n->gateway = given.addr == given.network() ? given.network() + 1 : given.addr;
    } else {
      std::vector<Ipv4Net> used = subnets_in_use();
      auto picked = network::pick_subnet(used);
      if (!picked) fail("default bridge network: no free subnet in the default address pools");
      n->subnet = *picked;
      n->gateway = picked->network() + 1;
    }
    n->doc = base_doc(n->id, "bridge", "bridge");
    n->doc["IPAM"]["Config"] = json::array({{{"Subnet", n->subnet->str()}, {"Gateway", network::ipv4_string(n->gateway)}}});
    n->doc["Options"] = {{kDefaultBridgeOpt, "true"},
                         {"com.docker.network.bridge.enable_icc", "true"},
                         {kMasqueradeOpt, opts_.ip_masq ? "true" : "false"},
                         {"com.docker.network.bridge.host_binding_ipv4", opts_.default_host_ip},
                         {kBridgeNameOpt, n->bridge},
                         {kMtuOpt, std::to_string(n->mtu)}};
    n->masquerade = opts_.ip_masq;
    n->init_allocator();
    bridge = n.get();
    persist(*n);
    networks_[n->id] = std::move(n);
  }
  nl.ensure_bridge({bridge->bridge, fmt::format("{}/{}", network::ipv4_string(bridge->gateway), bridge->subnet->prefix),
                    bridge->mtu});
}

std::vector<Ipv4Net> NetworkController::subnets_in_use() const {
  std::vector<Ipv4Net> used;
  for (const auto& [id, n] : networks_)
    if (n->subnet) used.push_back(*n->subnet);
  try {
    network::Netlink nl;
    for (const auto& r : nl.ipv4_routes()) {
      Ipv4Net net = Ipv4Net::parse(r.destination_cidr);
      if (net.prefix > 0) used.push_back(net);  // the default route overlaps everything
    }
  } catch (const Error& ex) {
    fprintf(stderr, "berthd: reading the host's routes: %s\n", ex.what());
  }
  return used;
}

void NetworkController::sync_firewall() {
  if (!firewall_) return;
  std::vector<network::BridgeNetwork> nets;
  for (const auto& [id, n] : networks_)
    if (n->driver == "bridge" && n->subnet) nets.push_back({n->bridge, *n->subnet, n->internal, n->masquerade && opts_.ip_masq});
  std::vector<network::PortMapping> ports;
  for (const auto& [id, sb] : sandboxes_) ports.insert(ports.end(), sb->mappings.begin(), sb->mappings.end());
  try {
    firewall_->sync(nets, ports);
  } catch (const Error& ex) {
    fprintf(stderr, "berthd: firewall: %s\n", ex.what());
  }
}

const NetworkController::Network* NetworkController::find(const std::string& ref) const {
  if (ref.empty()) return nullptr;
  if (auto it = networks_.find(ref); it != networks_.end()) return it->second.get();
  for (const auto& [id, n] : networks_)
    if (n->name == ref) return n.get();
  const Network* match = nullptr;
  for (const auto& [id, n] : networks_) {
    if (id.compare(0, ref.size(), ref) != 0) continue;
    if (match) return nullptr;  // ambiguous
    match = n.get();
  }
  return match;
}

const NetworkController::Network& NetworkController::get(const std::string& ref) const {
  const Network* n = find(ref);
  if (!n) throw NotFoundError(fmt::format("network {} not found", ref));
  return *n;
}

std::string NetworkController::resolve(const std::string& ref) const {
  std::lock_guard lock(mu_);
  return get(ref).id;
}

std::string NetworkController::name_of(const std::string& ref) const {
  std::lock_guard lock(mu_);
  return get(ref).name;
}

bool NetworkController::is_predefined(const std::string& ref) const {
  std::lock_guard lock(mu_);
  return get(ref).predefined;
}

bool NetworkController::is_user_defined_bridge(const std::string& ref) const {
  std::lock_guard lock(mu_);
  const Network& n = get(ref);
  return n.driver == "bridge" && !n.default_bridge;
}

bool NetworkController::has_endpoints(const std::string& ref) const {
  std::lock_guard lock(mu_);
  const Network& n = get(ref);
  for (const auto& [cid, sb] : sandboxes_)
    for (const auto& ep : sb->endpoints)
      if (ep.network_id == n.id) return true;
  return false;
}

std::string NetworkController::default_gateway() const {
  std::lock_guard lock(mu_);
  for (const auto& [id, n] : networks_)
    if (n->default_bridge && n->gateway) return network::ipv4_string(n->gateway);
  return "";
}

json NetworkController::create(const json& req) {
  if (!req.is_object()) throw InvalidArgumentError("invalid network create request");
  std::string name = req.value("Name", "");
  static const std::regex kName("^[a-zA-Z0-9][a-zA-Z0-9_.-]*$");
  if (name.empty()) throw InvalidArgumentError("network name is required");
  if (!std::regex_match(name, kName))
    throw InvalidArgumentError(fmt::format("invalid network name \"{}\": must match [a-zA-Z0-9][a-zA-Z0-9_.-]*", name));
  std::string driver = req.value("Driver", "");
  if (driver.empty()) driver = "bridge";
  if (driver == "host" || driver == "null")
    throw ForbiddenError(fmt::format("only one instance of \"{}\" network is allowed", driver));
  if (driver != "bridge") throw NotFoundError(fmt::format("plugin \"{}\" not found", driver));
  if (req.value("EnableIPv6", false)) throw InvalidArgumentError("IPv6 networks are not supported by Berth yet");
  json options = req.value("Options", json::object());
  if (!options.is_object()) options = json::object();
  json labels = req.value("Labels", json::object());
  if (!labels.is_object()) labels = json::object();
  json ipam = req.value("IPAM", json::object());
  if (!ipam.is_object()) ipam = json::object();
  std::string ipam_driver = ipam.value("Driver", "");
  if (!ipam_driver.empty() && ipam_driver != "default")
    throw NotFoundError(fmt::format("plugin \"{}\" not found", ipam_driver));

  auto n = std::make_unique<Network>();
  n->id = random_id();
  n->name = name;
  n->driver = driver;
  n->internal = req.value("Internal", false);
  n->mtu = opts_.mtu;
  n->bridge = "br-" + short_id(n->id);
  for (const auto& [k, v] : options.items()) {
    if (!v.is_string()) throw InvalidArgumentError(fmt::format("network option {}: value must be a string", k));
    std::string val = v.get<std::string>();
    if (k == kBridgeNameOpt) {
      if (val.empty() || val.size() > 15 || val.find_first_of("/ \t:") != std::string::npos)
        throw InvalidArgumentError(fmt::format("invalid bridge name \"{}\"", val));
      n->bridge = val;
    } else if (k == kMtuOpt) {
      long long mtu = 0;
      if (!parse_int64(val, &mtu) || mtu < 68 || mtu > 65535)
        throw InvalidArgumentError(fmt::format("invalid MTU \"{}\"", val));
      n->mtu = static_cast<int>(mtu);
    } else if (k == kMasqueradeOpt) {
      n->masquerade = val != "false" && val != "0";
    }
  }
  json configs = ipam.value("Config", json::array());
  if (!configs.is_array()) configs = json::array();
  json doc_configs = json::array();
  std::lock_guard lock(mu_);
  for (const auto& [id, other] : networks_)
    if (other->name == name) throw ConflictError(fmt::format("network with name {} already exists", name));
  for (const auto& [id, other] : networks_)
    if (other->driver == "bridge" && other->bridge == n->bridge)
      throw ConflictError(fmt::format("bridge name {} is already used by network {}", n->bridge, other->name));
  for (const auto& c : configs) {
    std::string subnet = c.value("Subnet", "");
    if (subnet.find(':') != std::string::npos) throw InvalidArgumentError("IPv6 subnets are not supported by Berth yet");
    if (n->subnet) throw InvalidArgumentError("a bridge network takes one IPv4 subnet");
    if (subnet.empty()) {
      if (!c.value("Gateway", "").empty() || !c.value("IPRange", "").empty())
        throw InvalidArgumentError("a gateway or ip-range needs a subnet");
      continue;
    }
    try {
      n->subnet = Ipv4Net::parse_strict(subnet);
    } catch (const Error& ex) {
      throw InvalidArgumentError(ex.what());
    }
    for (const auto& [id, other] : networks_)
      if (other->subnet && other->subnet->overlaps(*n->subnet))
        throw ForbiddenError("Pool overlaps with other one on this address space");
    std::string range = c.value("IPRange", "");
    if (!range.empty()) {
      try {
        n->ip_range = Ipv4Net::parse_strict(range);
      } catch (const Error& ex) {
        throw InvalidArgumentError(ex.what());
      }
      if (!n->subnet->contains(n->ip_range->network()) || n->ip_range->prefix < n->subnet->prefix)
        throw InvalidArgumentError(fmt::format("ip-range {} is not in subnet {}", range, subnet));
    }
    std::string gw = c.value("Gateway", "");
    n->gateway = gw.empty() ? n->subnet->network() + 1 : parse_ip_or_fail(gw, "gateway");
    if (!n->subnet->contains(n->gateway))
      throw InvalidArgumentError(fmt::format("no matching subnet for gateway {}", gw));
    json entry = {{"Subnet", subnet}};
    if (!range.empty()) entry["IPRange"] = range;
    entry["Gateway"] = network::ipv4_string(n->gateway);
    json aux = c.value("AuxiliaryAddresses", json::object());
    if (aux.is_object() && !aux.empty()) {
      for (const auto& [host, addr] : aux.items()) {
        uint32_t a = parse_ip_or_fail(addr.get<std::string>(), "auxiliary address");
        if (!n->subnet->contains(a))
          throw InvalidArgumentError(fmt::format("auxiliary address {} ({}) is not in subnet {}", host, addr.get<std::string>(), subnet));
        n->aux_addresses.push_back(a);
      }
      entry["AuxiliaryAddresses"] = aux;
    }
    doc_configs.push_back(entry);
  }
  if (!n->subnet) {
    auto picked = network::pick_subnet(subnets_in_use());
    if (!picked)
      throw ForbiddenError("all predefined address pools have been fully subnetted");
    n->subnet = *picked;
    n->gateway = picked->network() + 1;
    doc_configs.push_back({{"Subnet", picked->str()}, {"Gateway", network::ipv4_string(n->gateway)}});
  }
  n->init_allocator();
  n->doc = base_doc(n->id, name, driver);
  n->doc["IPAM"] = {{"Driver", "default"}, {"Options", ipam.value("Options", json::object())}, {"Config", doc_configs}};
  n->doc["Internal"] = n->internal;
  n->doc["Attachable"] = req.value("Attachable", false);
  n->doc["Options"] = options;
  n->doc["Labels"] = labels;
  network::Netlink().ensure_bridge(
      {n->bridge, fmt::format("{}/{}", network::ipv4_string(n->gateway), n->subnet->prefix), n->mtu});
  persist(*n);
  std::string id = n->id;
  networks_[id] = std::move(n);
  sync_firewall();
  return {{"Id", id}, {"Warning", ""}};
}

void NetworkController::remove(const std::string& ref) {
  std::lock_guard lock(mu_);
  const Network& n = get(ref);
  if (n.predefined) throw ForbiddenError(fmt::format("{} is a pre-defined network and cannot be removed", n.name));
  for (const auto& [cid, sb] : sandboxes_)
    for (const auto& ep : sb->endpoints)
      if (ep.network_id == n.id)
        throw ForbiddenError(fmt::format("error while removing network: network {} id {} has active endpoints", n.name, n.id));
  std::string id = n.id;
  try {
    network::Netlink().delete_link(n.bridge);
  } catch (const Error& ex) {
    fprintf(stderr, "berthd: network %s: %s\n", n.name.c_str(), ex.what());
  }
  ::unlink(path_join(path_join(opts_.data_root, "networks"), id + ".json").c_str());
  networks_.erase(id);
  sync_firewall();
}

json NetworkController::network_json(const Network& n) const {
  json doc = n.doc;
  json containers = json::object();
  for (const auto& [cid, sb] : sandboxes_)
    for (const auto& ep : sb->endpoints)
      if (ep.network_id == n.id)
        containers[cid] = {{"Name", sb->name},
                           {"EndpointID", ep.endpoint_id},
                           {"MacAddress", ep.mac},
                           {"IPv4Address", fmt::format("{}/{}", network::ipv4_string(ep.ip), ep.prefix)},
                           {"IPv6Address", ""}};
  doc["Containers"] = containers;
  return doc;
}

json NetworkController::inspect(const std::string& ref) const {
  std::lock_guard lock(mu_);
  return network_json(get(ref));
}

std::vector<json> NetworkController::list() const {
  std::lock_guard lock(mu_);
  std::vector<json> out;
  for (const auto& [id, n] : networks_) out.push_back(network_json(*n));
  return out;
}

NetworkController::Endpoint NetworkController::add_endpoint(Network& n, const Sandbox& sb, const json& settings,
                                                            int index, bool gateway) {
  if (n.driver != "bridge" || !n.subnet) fail("network {}: containers cannot join it this way", n.name);
  Endpoint ep;
  ep.network_id = n.id;
  ep.endpoint_id = random_id();
  ep.host_ifname = veth_name();
  ep.ifname = fmt::format("eth{}", index);
  ep.prefix = n.subnet->prefix;
  json ipam = settings.is_object() ? settings.value("IPAMConfig", json::object()) : json::object();
  std::string wanted = ipam.is_object() ? ipam.value("IPv4Address", "") : "";
  if (!wanted.empty()) {
    if (n.default_bridge) throw InvalidArgumentError("user specified IP address is supported on user defined networks only");
    uint32_t a = parse_ip_or_fail(wanted, "IPv4 address");
    try {
      n.alloc.reserve(a);
    } catch (const Error& ex) {
      throw InvalidArgumentError(ex.what());
    }
    ep.ip = a;
  } else {
    ep.ip = n.alloc.allocate();
  }
  std::string mac = settings.is_object() ? settings.value("MacAddress", "") : "";
  ep.mac = mac.empty() ? network::mac_for_ipv4(ep.ip) : mac;
  if (!n.internal && gateway) ep.gateway = n.gateway;
  if (settings.is_object() && !n.default_bridge) ep.aliases = strings_of(settings.value("Aliases", json()));
  network::EndpointConfig cfg;
  cfg.bridge = n.bridge;
  cfg.host_ifname = ep.host_ifname;
  cfg.netns_path = sb.netns_path;
  cfg.ifname = ep.ifname;
  cfg.address_cidr = fmt::format("{}/{}", network::ipv4_string(ep.ip), ep.prefix);
  cfg.gateway = ep.gateway ? network::ipv4_string(ep.gateway) : "";
  cfg.mac = ep.mac;
  cfg.mtu = n.mtu;
  try {
    network::Netlink().add_endpoint(cfg);
  } catch (const Error& ex) {
    n.alloc.release(ep.ip);
    throw ex.wrap(fmt::format("network {}", n.name));
  }
  return ep;
}

namespace {

struct PortKey {
  uint16_t first = 0, last = 0;
  std::string proto = "tcp";
};

// "80/tcp", "53/udp", "8000-8010/tcp", "80".
std::optional<PortKey> parse_port_key(const std::string& key) {
  PortKey k;
  std::string port = key;
  if (auto slash = key.find('/'); slash != std::string::npos) {
    port = key.substr(0, slash);
    k.proto = lower(key.substr(slash + 1));
  }
  if (k.proto != "tcp" && k.proto != "udp" && k.proto != "sctp") return std::nullopt;
  long long a = 0, b = 0;
  auto dash = port.find('-');
  if (dash == std::string::npos) {
    if (!parse_int64(port, &a)) return std::nullopt;
    b = a;
  } else if (!parse_int64(port.substr(0, dash), &a) || !parse_int64(port.substr(dash + 1), &b)) {
    return std::nullopt;
  }
  if (a < 1 || b > 65535 || b < a) return std::nullopt;
  k.first = static_cast<uint16_t>(a);
  k.last = static_cast<uint16_t>(b);
  return k;
}

}  // namespace

void NetworkController::publish_ports(const SandboxRequest& req, Sandbox& sb, json* ports) {
  *ports = json::object();
  const Endpoint* primary = nullptr;
  for (const auto& ep : sb.endpoints)
    if (ep.gateway && !primary) primary = &ep;
  json bindings = req.port_bindings.is_object() ? req.port_bindings : json::object();
  std::set<std::string> keys;
  for (const auto& [k, v] : bindings.items()) keys.insert(k);
  if (req.exposed_ports.is_object())
    for (const auto& [k, v] : req.exposed_ports.items()) keys.insert(k);
  uint32_t default_ip = network::parse_ipv4(opts_.default_host_ip).value_or(0);
  for (const std::string& key : keys) {
    auto pk = parse_port_key(key);
    if (!pk) throw InvalidArgumentError(fmt::format("invalid port specification: \"{}\"", key));
    std::string norm = pk->first == pk->last ? fmt::format("{}/{}", pk->first, pk->proto)
                                             : fmt::format("{}-{}/{}", pk->first, pk->last, pk->proto);
    json list = bindings.contains(key) && bindings[key].is_array() ? bindings[key] : json::array();
    if (list.empty() && req.publish_all) list = json::array({json::object()});
    if (list.empty() || !primary) {
      if (!ports->contains(norm)) (*ports)[norm] = nullptr;
      continue;
    }
    json& out = (*ports)[norm];
    if (!out.is_array()) out = json::array();
    for (uint16_t cport = pk->first; cport <= pk->last && cport != 0; ++cport) {
      for (const auto& b : list) {
        std::string hip_s = b.is_object() ? b.value("HostIp", "") : "";
        if (hip_s.find(':') != std::string::npos) continue;  // IPv6 bindings: no IPv6 here
        uint32_t hip = hip_s.empty() ? default_ip : parse_ip_or_fail(hip_s, "host IP");
        std::string hport = b.is_object() ? b.value("HostPort", "") : "";
        network::PortReservation res;
        if (hport.empty()) {
          res = network::PortReservation::bind(pk->proto, hip, 0);
        } else {
          auto hk = parse_port_key(hport + "/" + pk->proto);
          if (!hk) throw InvalidArgumentError(fmt::format("invalid host port \"{}\"", hport));
          if (hk->first == hk->last && pk->first != pk->last) {
            // "-p 8000:80-81" is refused by the CLI; the API maps ranges port by port.
            res = network::PortReservation::bind(pk->proto, hip, static_cast<uint16_t>(hk->first + (cport - pk->first)));
          } else if (hk->first == hk->last) {
            res = network::PortReservation::bind(pk->proto, hip, hk->first);
          } else if (pk->first != pk->last) {
            res = network::PortReservation::bind(pk->proto, hip, static_cast<uint16_t>(hk->first + (cport - pk->first)));
          } else {
            res = network::PortReservation::bind_range(pk->proto, hip, hk->first, hk->last);
          }
        }
        network::PortMapping m{pk->proto, hip, res.port(), primary->ip, cport};
        sb.mappings.push_back(m);
        sb.reservations.push_back(std::move(res));
        // Each container port gets its own key when a range was published.
        std::string ck = fmt::format("{}/{}", cport, pk->proto);
        json entry = {{"HostIp", network::ipv4_string(hip)}, {"HostPort", std::to_string(m.host_port)}};
        if (pk->first == pk->last) {
          out.push_back(entry);
        } else {
          json& per = (*ports)[ck];
          if (!per.is_array()) per = json::array();
          per.push_back(entry);
        }
      }
    }
    if (pk->first != pk->last) ports->erase(norm);
  }
  if (firewall_ && !sb.mappings.empty()) firewall_->add_ports(sb.mappings);
}

json NetworkController::endpoint_json(const Endpoint& ep, const json& settings, const std::string& name) const {
  const Network* n = find(ep.network_id);
  json s = settings.is_object() ? settings : json::object();
  json out = {{"IPAMConfig", s.value("IPAMConfig", json())},
              {"Links", s.value("Links", json())},
              {"Aliases", s.value("Aliases", json())},
              {"MacAddress", ep.mac},
              {"DriverOpts", s.value("DriverOpts", json())},
              {"GwPriority", 0},
              {"NetworkID", ep.network_id},
              {"EndpointID", ep.endpoint_id},
              {"Gateway", ep.gateway ? network::ipv4_string(ep.gateway) : ""},
              {"IPAddress", network::ipv4_string(ep.ip)},
              {"IPPrefixLen", ep.prefix},
              {"IPv6Gateway", ""},
              {"GlobalIPv6Address", ""},
              {"GlobalIPv6PrefixLen", 0},
              {"DNSNames", nullptr}};
  if (n && !n->default_bridge) {
    json names = json::array({name});
    for (const auto& a : ep.aliases)
      if (a != name) names.push_back(a);
    out["DNSNames"] = names;
  }
  return out;
}

SandboxResult NetworkController::attach(const SandboxRequest& req) {
  SandboxResult out;
  auto sb = std::make_unique<Sandbox>();
  sb->container_id = req.container_id;
  sb->name = req.name;
  sb->netns_path = path_join(path_join(opts_.exec_root, "netns"), req.container_id);
  std::vector<std::string> order;
  if (!req.primary_network.empty()) order.push_back(req.primary_network);
  if (req.networks.is_object())
    for (const auto& [name, v] : req.networks.items())
      if (name != req.primary_network) order.push_back(name);
  {
    std::lock_guard lock(mu_);
    std::vector<Network*> nets;
    for (const auto& ref : order) {
      const Network& n = get(ref);
      nets.push_back(const_cast<Network*>(&n));
    }
    try {
      network::remove_netns(sb->netns_path);  // a leftover of a crash
      network::create_netns(sb->netns_path);
      bool have_gateway = false;
      for (size_t i = 0; i < nets.size(); ++i) {
        json settings = req.networks.is_object() && req.networks.contains(order[i]) ? req.networks[order[i]] : json();
        Endpoint ep = add_endpoint(*nets[i], *sb, settings, static_cast<int>(i), !have_gateway);
        have_gateway = have_gateway || ep.gateway != 0;
        sb->endpoints.push_back(ep);
        if (!nets[i]->default_bridge) sb->dns = true;
      }
      publish_ports(req, *sb, &out.ports);
    } catch (...) {
      if (firewall_ && !sb->mappings.empty()) {
        try {
          firewall_->remove_ports(sb->mappings);
        } catch (const Error&) {
        }
      }
      for (const auto& ep : sb->endpoints) {
        try {
          network::Netlink().delete_link(ep.host_ifname);
        } catch (const Error&) {
        }
      }
      release_endpoints(sb->endpoints);
      try {
        network::remove_netns(sb->netns_path);
      } catch (const Error&) {
      }
      throw;
    }
    out.networks = json::object();
    for (size_t i = 0; i < sb->endpoints.size(); ++i) {
      json settings = req.networks.is_object() && req.networks.contains(order[i]) ? req.networks[order[i]] : json();
      out.networks[find(sb->endpoints[i].network_id)->name] = endpoint_json(sb->endpoints[i], settings, req.name);
    }
    if (!sb->endpoints.empty()) {
      out.primary_ip = network::ipv4_string(sb->endpoints[0].ip);
      if (sb->endpoints[0].gateway) out.primary_gateway = network::ipv4_string(sb->endpoints[0].gateway);
    }
    out.netns_path = sb->netns_path;
    out.embedded_dns = sb->dns;
    out.state = sb->state();
    if (sb->dns && !dns_)
      dns_ = std::make_unique<network::DnsServer>(
          network::DnsBackend{[this](const std::string& c, const std::string& n) { return dns_lookup(c, n); },
                              [this](const std::string& c, uint32_t a) { return dns_reverse(c, a); }},
          upstreams_);
    sandboxes_[req.container_id] = std::move(sb);
  }
  // Outside mu_: the DNS thread takes mu_ in its lookups.
  if (out.embedded_dns) {
    try {
      dns_->add(req.container_id, out.netns_path);
    } catch (const Error& ex) {
      fprintf(stderr, "berthd: container %s: embedded DNS: %s\n", req.container_id.c_str(), ex.what());
    }
  }
  return out;
}

void NetworkController::release_endpoints(const std::vector<Endpoint>& eps) {
  for (const auto& ep : eps) {
    auto it = networks_.find(ep.network_id);
    if (it != networks_.end() && ep.ip) it->second->alloc.release(ep.ip);
  }
}

void NetworkController::detach(const std::string& container_id, const json& state) noexcept {
  try {
    if (dns_ && state.is_object() && state.value("dns", false)) dns_->remove(container_id);
    std::unique_ptr<Sandbox> sb;
    std::lock_guard lock(mu_);
    if (auto it = sandboxes_.find(container_id); it != sandboxes_.end()) {
      sb = std::move(it->second);
      sandboxes_.erase(it);
    }
    std::vector<network::PortMapping> mappings = sb ? sb->mappings : mappings_from_state(state);
    std::vector<Endpoint> eps;
    if (sb) {
      eps = sb->endpoints;
    } else if (state.is_object()) {
      for (const auto& j : state.value("endpoints", json::array())) eps.push_back(Endpoint::from_json(j));
    }
    std::string netns = sb ? sb->netns_path : (state.is_object() ? state.value("netns", "") : "");
    if (firewall_ && !mappings.empty()) {
      try {
        firewall_->remove_ports(mappings);
      } catch (const Error& ex) {
        fprintf(stderr, "berthd: container %s: %s\n", container_id.c_str(), ex.what());
      }
    }
    if (!netns.empty()) network::remove_netns(netns);
    if (!eps.empty()) {
      // Without a sandbox here (its container died while no daemon ran) its
      // addresses were never taken back by restore(): they are not ours to
      // return, and may be someone else's by now.
      to_reap_.emplace_back(std::move(eps), sb != nullptr);
      reap_cv_.notify_all();
    }
  } catch (const std::exception& ex) {
    fprintf(stderr, "berthd: container %s: network teardown: %s\n", container_id.c_str(), ex.what());
  }
}

void NetworkController::restore(const SandboxRequest& req, const json& state) {
  if (!state.is_object()) return;
  auto sb = std::make_unique<Sandbox>();
  sb->container_id = req.container_id;
  sb->name = req.name;
  sb->netns_path = state.value("netns", "");
  sb->dns = state.value("dns", false);
  {
    std::lock_guard lock(mu_);
    for (const auto& j : state.value("endpoints", json::array())) {
      Endpoint ep = Endpoint::from_json(j);
      if (auto it = networks_.find(ep.network_id); it != networks_.end() && ep.ip) {
        try {
          it->second->alloc.reserve(ep.ip);
        } catch (const Error& ex) {
          fprintf(stderr, "berthd: container %s: %s\n", req.container_id.c_str(), ex.what());
        }
      }
      sb->endpoints.push_back(ep);
    }
    for (const auto& m : mappings_from_state(state)) {
      try {
        sb->reservations.push_back(network::PortReservation::bind(m.proto, m.host_ip, m.host_port));
      } catch (const Error& ex) {
        fprintf(stderr, "berthd: container %s: %s\n", req.container_id.c_str(), ex.what());
      }
      sb->mappings.push_back(m);
    }
    if (firewall_ && !sb->mappings.empty()) {
      try {
        firewall_->add_ports(sb->mappings);
      } catch (const Error& ex) {
        fprintf(stderr, "berthd: container %s: %s\n", req.container_id.c_str(), ex.what());
      }
    }
    if (sb->dns && !dns_)
      dns_ = std::make_unique<network::DnsServer>(
          network::DnsBackend{[this](const std::string& c, const std::string& n) { return dns_lookup(c, n); },
                              [this](const std::string& c, uint32_t a) { return dns_reverse(c, a); }},
          upstreams_);
    sandboxes_[req.container_id] = std::move(sb);
  }
  if (state.value("dns", false)) {
    try {
      dns_->add(req.container_id, state.value("netns", ""));
    } catch (const Error& ex) {
      fprintf(stderr, "berthd: container %s: embedded DNS: %s\n", req.container_id.c_str(), ex.what());
    }
  }
}

json NetworkController::connect(const SandboxRequest& req, const std::string& network, const json& settings,
                                 json* state) {
  bool start_dns = false;
  json out;
  std::string netns;
  {
    std::lock_guard lock(mu_);
    auto it = sandboxes_.find(req.container_id);
    if (it == sandboxes_.end()) fail("container {} has no network sandbox", req.container_id);
    Sandbox& sb = *it->second;
    Network& n = const_cast<Network&>(get(network));
    for (const auto& ep : sb.endpoints)
      if (ep.network_id == n.id)
        throw ForbiddenError(fmt::format("endpoint with name {} already exists in network {}", req.name, n.name));
    int index = 0;
    for (const auto& ep : sb.endpoints) index = std::max(index, atoi(ep.ifname.c_str() + 3) + 1);
    bool have_gateway = std::any_of(sb.endpoints.begin(), sb.endpoints.end(), [](const Endpoint& e) { return e.gateway != 0; });
    Endpoint ep = add_endpoint(n, sb, settings, index, !have_gateway);
    sb.endpoints.push_back(ep);
    if (!n.default_bridge && !sb.dns) {
      sb.dns = true;
      start_dns = true;
      if (!dns_)
        dns_ = std::make_unique<network::DnsServer>(
            network::DnsBackend{[this](const std::string& c, const std::string& nm) { return dns_lookup(c, nm); },
                                [this](const std::string& c, uint32_t a) { return dns_reverse(c, a); }},
            upstreams_);
    }
    out = endpoint_json(ep, settings, req.name);
    *state = sb.state();
    netns = sb.netns_path;
  }
  if (start_dns) {
    try {
      dns_->add(req.container_id, netns);
    } catch (const Error& ex) {
      fprintf(stderr, "berthd: container %s: embedded DNS: %s\n", req.container_id.c_str(), ex.what());
    }
  }
  return out;
}

void NetworkController::disconnect(const std::string& container_id, const std::string& network, json* state) {
  std::lock_guard lock(mu_);
  auto it = sandboxes_.find(container_id);
  if (it == sandboxes_.end()) return;
  Sandbox& sb = *it->second;
  const Network& n = get(network);
  auto ep = std::find_if(sb.endpoints.begin(), sb.endpoints.end(), [&](const Endpoint& e) { return e.network_id == n.id; });
  if (ep == sb.endpoints.end())
    throw ForbiddenError(fmt::format("container {} is not connected to network {}", container_id, n.name));
  network::Netlink().delete_link(ep->host_ifname);
  release_endpoints({*ep});
  sb.endpoints.erase(ep);
  *state = sb.state();
}

void NetworkController::rename(const std::string& container_id, const std::string& new_name) {
  std::lock_guard lock(mu_);
  if (auto it = sandboxes_.find(container_id); it != sandboxes_.end()) it->second->name = new_name;
}

std::vector<uint32_t> NetworkController::dns_lookup(const std::string& client, const std::string& qname) {
  std::lock_guard lock(mu_);
  auto self = sandboxes_.find(client);
  if (self == sandboxes_.end()) return {};
  std::vector<uint32_t> out;
  for (const auto& mine : self->second->endpoints) {
    auto nit = networks_.find(mine.network_id);
    if (nit == networks_.end() || nit->second->default_bridge) continue;
    std::string net_suffix = "." + lower(nit->second->name);
    for (const auto& [cid, sb] : sandboxes_) {
      for (const auto& ep : sb->endpoints) {
        if (ep.network_id != mine.network_id) continue;
        std::vector<std::string> names = {lower(sb->name), short_id(cid)};
        for (const auto& a : ep.aliases) names.push_back(lower(a));
        for (const auto& nm : names) {
          if (qname == nm || qname == nm + net_suffix) {
            if (std::find(out.begin(), out.end(), ep.ip) == out.end()) out.push_back(ep.ip);
            break;
          }
        }
      }
    }
  }
  return out;
}

std::string NetworkController::dns_reverse(const std::string& client, uint32_t addr) {
  std::lock_guard lock(mu_);
  auto self = sandboxes_.find(client);
  if (self == sandboxes_.end()) return "";
  for (const auto& mine : self->second->endpoints) {
    auto nit = networks_.find(mine.network_id);
    if (nit == networks_.end() || nit->second->default_bridge) continue;
    for (const auto& [cid, sb] : sandboxes_)
      for (const auto& ep : sb->endpoints)
        if (ep.network_id == mine.network_id && ep.ip == addr) return sb->name + "." + nit->second->name;
  }
  return "";
}

}  // namespace berth::engine
