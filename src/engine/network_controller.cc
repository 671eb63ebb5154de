// NetworkController, the networks half: records, the predefined networks,
// create/remove/inspect, the firewall table, and the DNS answers.
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
#include "engine/network_controller_internal.h"
#include "network/netlink.h"

namespace berth::engine {

using network::Ipv4Net;
using nlohmann::json;

namespace netctl {

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

uint32_t parse_ip_or_fail(const std::string& s, const std::string& what) {
  auto a = network::parse_ipv4(s);
  if (!a) throw InvalidArgumentError(fmt::format("invalid {}: {}", what, s));
  return *a;
}

}  // namespace netctl

using netctl::lower;
using netctl::parse_ip_or_fail;
using netctl::short_id;
using netctl::strings_of;


namespace {

constexpr const char* kBridgeNameOpt = "com.docker.network.bridge.name";
constexpr const char* kMtuOpt = "com.docker.network.driver.mtu";
constexpr const char* kMasqueradeOpt = "com.docker.network.bridge.enable_ip_masquerade";
constexpr const char* kDefaultBridgeOpt = "com.docker.network.bridge.default_bridge";

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
