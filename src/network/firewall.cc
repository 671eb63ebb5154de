#include "network/firewall.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <nftables/libnftables.h>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::network {

namespace {

constexpr const char* kProtocols[] = {"tcp", "udp", "sctp"};

bool is_protocol(const std::string& p) {
  for (const char* known : kProtocols)
    if (p == known) return true;
  return false;
}

// Names are pasted into nftables' command language, so only characters that
// cannot end a string or a statement get through.
bool is_safe_name(const std::string& s, size_t max_len, bool allow_dot_dash) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              (allow_dot_dash && (c == '-' || c == '.'));
    if (!ok) return false;
  }
  return true;
}

void check_bridge(const BridgeNetwork& n) {
  if (!is_safe_name(n.bridge, 15, true)) fail("invalid bridge name \"{}\"", n.bridge);
}

void check_mapping(const PortMapping& m) {
  if (!is_protocol(m.proto)) fail("invalid protocol \"{}\" for a published port", m.proto);
  if (m.host_port == 0 || m.container_port == 0 || m.container_ip == 0)
    fail("invalid port mapping {}:{} -> {}:{}/{}", ipv4_string(m.host_ip), m.host_port,
         ipv4_string(m.container_ip), m.container_port, m.proto);
}

// Published ports live in two maps per protocol: <proto>_any for host_ip 0
// (keyed by port) and <proto>_addr for one host address (keyed by address .
// port), both yielding the container's address . port for dnat.
std::string map_name(const std::string& proto, bool any) { return proto + (any ? "_any" : "_addr"); }

std::string element_key(const PortMapping& m) {
  return m.host_ip ? fmt::format("{} . {}", ipv4_string(m.host_ip), m.host_port) : std::to_string(m.host_port);
}

std::string element_text(const PortMapping& m) {
  return fmt::format("{} : {} . {}", element_key(m), ipv4_string(m.container_ip), m.container_port);
}

std::string element_command(const char* verb, const std::string& table, const PortMapping& m) {
  return fmt::format("{} element ip {} {} {{ {} }}\n", verb, table, map_name(m.proto, m.host_ip == 0),
                     element_text(m));
}

std::string quoted(const std::string& ifname) { return "\"" + ifname + "\""; }

// The whole table, replacing any previous version in the same transaction:
// "add" makes the "delete" succeed on a first run.
std::string table_text(const std::string& table, const std::vector<BridgeNetwork>& networks,
                       const std::vector<PortMapping>& ports) {
  std::string t = fmt::format("add table ip {0}\ndelete table ip {0}\ntable ip {0} {{\n", table);
  for (const char* proto : kProtocols) {
    for (bool any : {true, false}) {
      t += fmt::format("  map {} {{\n", map_name(proto, any));
      t += any ? "    type inet_service : ipv4_addr . inet_service\n"
               : "    type ipv4_addr . inet_service : ipv4_addr . inet_service\n";
      // A mapping given twice is one element (nft refuses a repeated key);
      // one host port leading to two places still fails, as it should.
      std::set<std::string> elements;
      for (const PortMapping& m : ports)
        if (m.proto == proto && (m.host_ip == 0) == any) elements.insert(element_text(m));
      if (!elements.empty())
        t += fmt::format("    elements = {{ {} }}\n", join({elements.begin(), elements.end()}, ", "));
      t += "  }\n";
    }
  }

  t += "  chain ports {\n";
  for (const char* proto : kProtocols) {
    // A specific host address wins over "every address", as a socket bound
    // to it would win over one bound to 0.0.0.0.
    t += fmt::format("    dnat ip to ip daddr . {0} dport map @{1}\n", proto, map_name(proto, false));
    t += fmt::format("    dnat ip to {0} dport map @{1}\n", proto, map_name(proto, true));
  }
  t += "  }\n";
  // Only packets for a local address are published ports; connections made
  // on this host (loopback included) pass the output hook, not prerouting.
  t += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
       "    fib daddr type local jump ports\n  }\n";
  t += "  chain output {\n    type nat hook output priority -100; policy accept;\n"
       "    fib daddr type local jump ports\n  }\n";

  t += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  for (const BridgeNetwork& n : networks) {
    if (n.internal) continue;
    std::string br = quoted(n.bridge);
    std::string subnet = fmt::format("{}/{}", ipv4_string(n.subnet.network()), n.subnet.prefix);
    // 127.0.0.1:port -> container: the reply must come back to an address
    // the container can route to (route_localnet lets the packet out at all).
    t += fmt::format("    oifname {} ip saddr 127.0.0.0/8 masquerade\n", br);
    // Hairpin: without it the container would answer its neighbour directly
    // and the neighbour would drop a reply from an address it never called.
    t += fmt::format("    oifname {} ip saddr {} ct status dnat masquerade\n", br, subnet);
    if (n.masquerade) t += fmt::format("    ip saddr {} oifname != {} masquerade\n", subnet, br);
  }
  t += "  }\n";

  t += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  for (const BridgeNetwork& n : networks) {
    if (!n.internal) continue;
    std::string br = quoted(n.bridge);
    t += fmt::format("    iifname {0} oifname != {0} drop\n    oifname {0} iifname != {0} drop\n", br);
  }
  t += "    ct state established,related accept\n";
  // A published port is public by intent: reaching it from another network
  // is no more a breach than reaching it from another host.
  t += "    ct status dnat accept\n";
  for (const BridgeNetwork& from : networks) {
    std::vector<std::string> others;
    for (const BridgeNetwork& to : networks)
      if (to.bridge != from.bridge) others.push_back(quoted(to.bridge));
    if (!others.empty())
      t += fmt::format("    iifname {} oifname {{ {} }} drop\n", quoted(from.bridge), join(others, ", "));
  }
  t += "  }\n}\n";
  return t;
}

// nftables prints "<file>:1:5-9: Error: <what>" (or just "Error: <what>"),
// then the offending input line and a line of carets; one line is kept per
// error, naming the input it refers to.
std::string nft_error_text(const std::string& buf) {
  auto lines = split(buf, '\n');
  std::vector<std::string> errors;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto pos = lines[i].find("Error: ");
    if (pos == std::string::npos) continue;
    std::string msg = lines[i].substr(pos + 7);
    if (i + 2 < lines.size() && lines[i + 2].find('^') != std::string::npos && !trim(lines[i + 1]).empty())
      msg += fmt::format(" (in \"{}\")", trim(lines[i + 1]));
    errors.push_back(msg);
  }
  if (errors.empty()) {
    std::string flat(trim(buf));
    for (char& c : flat)
      if (c == '\n') c = ' ';
    return flat.empty() ? "failed without a message" : flat;
  }
  return join(errors, "; ");
}

// Written only when different, so an already-forwarding host with a
// read-only /proc/sys (berthd in a container) is not an error.
void set_sysctl(const std::string& key, const std::string& value) {
  std::string path = "/proc/sys/" + key;
  std::string current;
  if (read_file_if_exists(path, &current) && trim(current) == value) return;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("set sysctl {}", path);
  write_all_fd(fd.get(), value, "sysctl " + path);
}

std::optional<uint32_t> json_ipv4(const nlohmann::json& j) {
  return j.is_string() ? parse_ipv4(j.get<std::string>()) : std::nullopt;
}

std::optional<uint16_t> json_port(const nlohmann::json& j) {
  if (j.is_number_unsigned() && j.get<uint64_t>() <= 65535) return static_cast<uint16_t>(j.get<uint64_t>());
  return std::nullopt;
}

// The JSON of an "a . b" concatenation of an address and a port.
std::optional<std::pair<uint32_t, uint16_t>> json_addr_port(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("concat") || j["concat"].size() != 2) return std::nullopt;
  auto ip = json_ipv4(j["concat"][0]);
  auto port = json_port(j["concat"][1]);
  if (!ip || !port) return std::nullopt;
  return std::pair(*ip, *port);
}

using MappingKey = std::tuple<std::string, uint32_t, uint16_t>;  // proto, host_ip, host_port

// The port maps' elements in a "list table" JSON answer.
std::map<MappingKey, PortMapping> mappings_in(const nlohmann::json& listing) {
  std::map<MappingKey, PortMapping> out;
  for (const auto& item : listing.value("nftables", nlohmann::json::array())) {
    if (!item.contains("map")) continue;
    const auto& map = item["map"];
    std::string name = map.value("name", "");
    auto underscore = name.find('_');
    if (underscore == std::string::npos || !map.contains("elem")) continue;
    std::string proto = name.substr(0, underscore), kind = name.substr(underscore + 1);
    if (!is_protocol(proto) || (kind != "any" && kind != "addr")) continue;
    for (const auto& elem : map["elem"]) {
      if (!elem.is_array() || elem.size() != 2) continue;
      PortMapping m;
      m.proto = proto;
      if (kind == "any") {
        auto port = json_port(elem[0]);
        if (!port) continue;
        m.host_port = *port;
      } else {
        auto key = json_addr_port(elem[0]);
        if (!key) continue;
        std::tie(m.host_ip, m.host_port) = *key;
      }
      auto value = json_addr_port(elem[1]);
      if (!value) continue;
      std::tie(m.container_ip, m.container_port) = *value;
      out[{m.proto, m.host_ip, m.host_port}] = m;
    }
  }
  return out;
}

}  // namespace

struct Firewall::Impl {
  std::mutex mu;  // one nft_ctx, used by one thread at a time
  nft_ctx* ctx = nullptr;

  ~Impl() {
    if (ctx) nft_ctx_free(ctx);
  }

  // Runs commands as one transaction; returns nft's output (JSON when asked).
  std::string run(const std::string& commands, bool json = false) {
    // From a file, not nft_run_cmd_from_buffer: libnftables 1.0.6 quotes the
    // first line of a buffer in every error, not the line at fault.
    UniqueFd file(::memfd_create("nft-commands", MFD_CLOEXEC));
    if (!file.valid()) fail_errno("memfd_create");
    write_all_fd(file.get(), commands, "nft commands");
    nft_ctx_output_set_flags(ctx, json ? NFT_CTX_OUTPUT_JSON : 0);
    int rc = nft_run_cmd_from_filename(ctx, fd_path(file.get()).c_str());
    // Reading a buffer also rewinds it for the next command.
    std::string out = nft_ctx_get_output_buffer(ctx);
    std::string err = nft_ctx_get_error_buffer(ctx);
    if (rc != 0) throw Error(nft_error_text(err));
    return out;
  }
};

Firewall::Firewall(std::string table) : table_(std::move(table)), impl_(std::make_unique<Impl>()) {
  if (!is_safe_name(table_, 64, false)) fail("invalid nftables table name \"{}\"", table_);
  // libnftables opens its netlink socket here: this fixes the namespace.
  impl_->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!impl_->ctx) fail("nftables: cannot create a context");
  if (nft_ctx_buffer_output(impl_->ctx) != 0 || nft_ctx_buffer_error(impl_->ctx) != 0)
    fail("nftables: cannot buffer output");
}

Firewall::~Firewall() = default;

void Firewall::sync(const std::vector<BridgeNetwork>& networks, const std::vector<PortMapping>& ports) {
  for (const BridgeNetwork& n : networks) check_bridge(n);
  for (const PortMapping& m : ports) check_mapping(m);
  std::string text = table_text(table_, networks, ports);
  {
    std::lock_guard lock(impl_->mu);
    try {
      impl_->run(text);
    } catch (const Error& e) {
      throw e.wrap(fmt::format("nftables: sync table ip {}", table_));
    }
  }
  set_sysctl("net/ipv4/ip_forward", "1");
  for (const BridgeNetwork& n : networks)
    if (path_exists("/proc/sys/net/ipv4/conf/" + n.bridge))
      set_sysctl(fmt::format("net/ipv4/conf/{}/route_localnet", n.bridge), "1");
}

void Firewall::add_ports(const std::vector<PortMapping>& ports) {
  if (ports.empty()) return;
  std::string commands;
  for (const PortMapping& m : ports) {
    check_mapping(m);
    commands += element_command("add", table_, m);
  }
  std::lock_guard lock(impl_->mu);
  try {
    impl_->run(commands);
  } catch (const Error& e) {
    throw e.wrap(fmt::format("nftables: publish ports in table ip {}", table_));
  }
}

void Firewall::remove_ports(const std::vector<PortMapping>& ports) {
  if (ports.empty()) return;
  for (const PortMapping& m : ports) check_mapping(m);
  std::lock_guard lock(impl_->mu);
  try {
    // What the kernel holds, not what this object remembers: the table may
    // have been flushed by another program or written by an earlier daemon.
    // nft refuses to delete a missing element, so only present ones go.
    std::string listing;
    try {
      listing = impl_->run(fmt::format("list table ip {}", table_), true);
    } catch (const Error&) {
      auto tables = nlohmann::json::parse(impl_->run("list tables ip", true));
      bool exists = false;
      for (const auto& item : tables.value("nftables", nlohmann::json::array()))
        if (item.contains("table") && item["table"].value("name", "") == table_) exists = true;
      if (!exists) return;  // no table, no mappings
      throw;
    }
    auto present = mappings_in(nlohmann::json::parse(listing));
    std::string commands;
    for (const PortMapping& m : ports) {
      auto it = present.find({m.proto, m.host_ip, m.host_port});
      // The same host port now leading elsewhere belongs to someone else.
      if (it == present.end() || !(it->second == m)) continue;
      commands += element_command("delete", table_, m);
      present.erase(it);  // a mapping listed twice is deleted once
    }
    if (!commands.empty()) impl_->run(commands);
  } catch (const nlohmann::json::exception& e) {
    fail("nftables: unpublish ports in table ip {}: unreadable listing: {}", table_, e.what());
  } catch (const Error& e) {
    throw e.wrap(fmt::format("nftables: unpublish ports in table ip {}", table_));
  }
}

void Firewall::remove_table() {
  std::lock_guard lock(impl_->mu);
  try {
    impl_->run(fmt::format("add table ip {0}\ndelete table ip {0}\n", table_));
  } catch (const Error& e) {
    throw e.wrap(fmt::format("nftables: remove table ip {}", table_));
  }
}

namespace {

// Binds a socket for proto on host_ip:port; returns 0 or the errno of the
// failing call, for callers that try several ports.
int try_bind(const std::string& proto, uint32_t host_ip, uint16_t port, UniqueFd* out) {
  int type = SOCK_STREAM, protocol = IPPROTO_TCP;
  if (proto == "udp") {
    type = SOCK_DGRAM;
    protocol = IPPROTO_UDP;
  } else if (proto == "sctp") {
    protocol = IPPROTO_SCTP;
  } else if (proto != "tcp") {
    fail("invalid protocol \"{}\" for a published port", proto);
  }
  // SO_REUSEADDR stays off: with it another socket that also sets it could
  // share the port, as two bound-but-not-listening TCP sockets may.
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, protocol));
  if (!fd.valid()) fail_errno("socket {}", proto);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(host_ip);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return errno;
  *out = std::move(fd);
  return 0;
}

}  // namespace

PortReservation PortReservation::bind(const std::string& proto, uint32_t host_ip, uint16_t port) {
  UniqueFd fd;
  int err = try_bind(proto, host_ip, port, &fd);
  if (err == EADDRINUSE) fail("Bind for {}:{} failed: port is already allocated", ipv4_string(host_ip), port);
  if (err != 0) {
    errno = err;
    fail_errno("bind {} {}:{}", proto, ipv4_string(host_ip), port);
  }
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    fail_errno("getsockname {} {}:{}", proto, ipv4_string(host_ip), port);
  PortReservation r;
  r.fd_ = fd.release();
  r.port_ = ntohs(sa.sin_port);
  return r;
}

PortReservation PortReservation::bind_range(const std::string& proto, uint32_t host_ip, uint16_t first,
                                            uint16_t last) {
  if (first == 0 || first > last) fail("invalid port range {}-{}", first, last);
  for (uint32_t port = first; port <= last; ++port) {
    UniqueFd fd;
    int err = try_bind(proto, host_ip, static_cast<uint16_t>(port), &fd);
    if (err == EADDRINUSE) continue;
    if (err != 0) {
      errno = err;
      fail_errno("bind {} {}:{}", proto, ipv4_string(host_ip), port);
    }
    PortReservation r;
    r.fd_ = fd.release();
    r.port_ = static_cast<uint16_t>(port);
    return r;
  }
  fail("Bind for {}:{}-{} failed: port is already allocated", ipv4_string(host_ip), first, last);
}

PortReservation::~PortReservation() {
  if (fd_ >= 0) ::close(fd_);
}

PortReservation::PortReservation(PortReservation&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), port_(std::exchange(o.port_, 0)) {}

PortReservation& PortReservation::operator=(PortReservation&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    port_ = std::exchange(o.port_, 0);
  }
  return *this;
}

}  // namespace berth::network
