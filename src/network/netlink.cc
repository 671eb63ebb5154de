#include "network/netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/random.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <cctype>
#include <cstring>
#include <optional>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "network/netns.h"

namespace berth::network {
namespace {

template <typename T, void (*Free)(T*)>
struct Release {
  void operator()(T* p) const { Free(p); }
};
using LinkPtr = std::unique_ptr<rtnl_link, Release<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, Release<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Release<rtnl_route, rtnl_route_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, Release<nl_addr, nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Release<nl_cache, nl_cache_free>>;
using MsgPtr = std::unique_ptr<nl_msg, Release<nl_msg, nlmsg_free>>;

template <typename T>
T* checked_alloc(T* p) {
  if (!p) throw std::bad_alloc();
  return p;
}

struct Ipv4Cidr {
  in_addr addr{};
  int prefix = 32;
};

// "a.b.c.d" or "a.b.c.d/n"; strict, so a typo never reaches the kernel.
Ipv4Cidr parse_ipv4(const std::string& s, bool with_prefix) {
  Ipv4Cidr out;
  std::string ip = s;
  if (with_prefix) {
    size_t slash = s.find('/');
    if (slash == std::string::npos) fail("invalid address {}: want a.b.c.d/n", s);
    ip = s.substr(0, slash);
    std::string len = s.substr(slash + 1);
    if (len.empty() || len.size() > 2 || !std::isdigit(static_cast<unsigned char>(len[0])) ||
        !std::isdigit(static_cast<unsigned char>(len.back())) || std::stoi(len) > 32)
      fail("invalid address {}: bad prefix length", s);
    out.prefix = std::stoi(len);
  }
  if (::inet_pton(AF_INET, ip.c_str(), &out.addr) != 1) fail("invalid address {}", s);
  return out;
}

// The kernel's rules (dev_valid_name). Checked here because libnl would
// silently cut a long name to 15 characters.
void check_ifname(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == ".." ||
      name.find_first_of("/: \t\n") != std::string::npos)
    fail("invalid interface name \"{}\": want 1 to {} characters, none of '/', ':' or space", name, IFNAMSIZ - 1);
}

NlAddrPtr to_nl_addr(const Ipv4Cidr& a) {
  NlAddrPtr out(checked_alloc(nl_addr_build(AF_INET, &a.addr, sizeof a.addr)));
  nl_addr_set_prefixlen(out.get(), a.prefix);
  return out;
}

NlAddrPtr parse_mac(const std::string& s) {
  unsigned char b[6];
  int end = 0;
  if (std::sscanf(s.c_str(), "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                  &end) != 6 ||
      end != 17 || s.size() != 17)
    fail("invalid MAC address {}", s);
  return NlAddrPtr(checked_alloc(nl_addr_build(AF_LLC, b, sizeof b)));
}

// A random unicast, locally administered MAC. A bridge given one keeps it;
// without, it takes the lowest MAC of its ports, which changes as
// containers come and go and leaves stale gateway ARP entries behind.
NlAddrPtr random_mac() {
  unsigned char b[6];
  if (::getrandom(b, sizeof b, 0) != sizeof b) fail_errno("getrandom");
  b[0] = (b[0] & 0xfe) | 0x02;
  return NlAddrPtr(checked_alloc(nl_addr_build(AF_LLC, b, sizeof b)));
}

// "a.b.c.d/n"; an absent or empty address (a default route's) is 0.0.0.0.
std::string ipv4_cidr_string(nl_addr* a, unsigned prefix) {
  char buf[INET_ADDRSTRLEN] = "0.0.0.0";
  if (a && nl_addr_get_len(a) == 4) ::inet_ntop(AF_INET, nl_addr_get_binary_addr(a), buf, sizeof buf);
  return fmt::format("{}/{}", buf, prefix);
}

// The text after the nlmsgerr of an extended ack (NETLINK_EXT_ACK), e.g.
// "Nexthop has invalid gateway"; empty when the kernel sent none.
std::string extack_message(const nlmsgerr* err) {
  const auto* hdr = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(err) - NLMSG_HDRLEN);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  size_t offset = sizeof(nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
  offset = NLA_ALIGN(offset);
  size_t payload = hdr->nlmsg_len - NLMSG_HDRLEN;
  if (offset >= payload) return "";
  auto* head = reinterpret_cast<nlattr*>(const_cast<char*>(reinterpret_cast<const char*>(err)) + offset);
  nlattr* msg = nla_find(head, static_cast<int>(payload - offset), NLMSGERR_ATTR_MSG);
  return msg ? std::string(nla_get_string(msg), strnlen(nla_get_string(msg), nla_len(msg))) : "";
}

}  // namespace

struct Netlink::Impl {
  nl_sock* sock = nullptr;
  // The kernel's own errno and extended-ack text for the request in flight:
  // libnl folds errno into its coarser NLE_* codes and drops the text.
  int kernel_errno = 0;
  std::string kernel_message;

  Impl() {
    sock = checked_alloc(nl_socket_alloc());
    nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, &Impl::on_kernel_error, this);
    int rc = nl_connect(sock, NETLINK_ROUTE);
    if (rc < 0) {
      nl_socket_free(sock);
      fail("open rtnetlink socket: {}", nl_geterror(rc));
    }
    // One recvmsg per answer instead of a peek first; 32 KiB holds the
    // largest message a dump sends.
    nl_socket_disable_msg_peek(sock);
    nl_socket_set_msg_buf_size(sock, 32768);
    // Best effort: both only improve error messages and their size.
    int one = 1;
    ::setsockopt(nl_socket_get_fd(sock), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    ::setsockopt(nl_socket_get_fd(sock), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  }
  ~Impl() { nl_socket_free(sock); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  static int on_kernel_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    self->kernel_errno = -err->error;
    self->kernel_message = extack_message(err);
    return NL_STOP;
  }

  // Runs one libnl request; a negative result throws "<what>: <reason>".
  // A failure with errno `tolerated` is not an error (and returns < 0).
  template <typename Request>
  int run(Request&& request, std::string_view what, int tolerated = 0) {
    kernel_errno = 0;
    kernel_message.clear();
    int rc = request();
    if (rc >= 0) return rc;
    if (tolerated && kernel_errno == tolerated) return rc;
    std::string reason = kernel_errno ? strerror_text(kernel_errno) : lower(nl_geterror(rc));
    if (!kernel_message.empty()) reason += fmt::format(" ({})", kernel_message);
    throw Error(fmt::format("{}: {}", what, reason));
  }

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  // The link named ifname, or null when there is none.
  LinkPtr find_link(const std::string& ifname, std::string_view what) {
    rtnl_link* raw = nullptr;
    // rtnl_link_get_kernel installs its own error handler: "no such
    // device" arrives as NLE_OBJ_NOTFOUND (or NLE_NODEV), not as errno.
    int rc = rtnl_link_get_kernel(sock, 0, ifname.c_str(), &raw);
    if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV) return nullptr;
    if (rc < 0) fail("{}: {}", what, lower(nl_geterror(rc)));
    return LinkPtr(raw);
  }

  // RTM_NEWLINK without NLM_F_CREATE changes the existing link named in it.
  void change_link(rtnl_link* change, std::string_view what) {
    run([&] { return rtnl_link_add(sock, change, 0); }, what);
  }

  // Hairpin mode on a bridge port: frames may leave through the port they
  // came in by, so a container reaches itself through a published port.
  void set_hairpin(const std::string& port) {
    MsgPtr msg(checked_alloc(nlmsg_alloc_simple(RTM_NEWLINK, 0)));
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    nlattr* info = nullptr;
    nlattr* slave = nullptr;
    if (nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(msg.get(), IFLA_IFNAME, port.c_str()) < 0 ||
        !(info = nla_nest_start(msg.get(), IFLA_LINKINFO)) ||
        nla_put_string(msg.get(), IFLA_INFO_SLAVE_KIND, "bridge") < 0 ||
        !(slave = nla_nest_start(msg.get(), IFLA_INFO_SLAVE_DATA)) ||
        nla_put_u8(msg.get(), IFLA_BRPORT_MODE, 1) < 0)
      throw std::bad_alloc();
    nla_nest_end(msg.get(), slave);
    nla_nest_end(msg.get(), info);
    run([&] { return nl_send_sync(sock, msg.release()); }, fmt::format("set hairpin mode on {}", port));
  }

  void add_address(int ifindex, const std::string& ifname, const Ipv4Cidr& cidr, const std::string& text,
                   bool exist_ok) {
    AddrPtr addr(checked_alloc(rtnl_addr_alloc()));
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    NlAddrPtr local = to_nl_addr(cidr);
    rtnl_addr_set_local(addr.get(), local.get());
    if (cidr.prefix < 31) {  // as docker (and `ip addr add ... brd +`) do
      Ipv4Cidr bcast = cidr;
      uint32_t host_mask = cidr.prefix == 0 ? 0xffffffffu : (1u << (32 - cidr.prefix)) - 1;
      bcast.addr.s_addr |= htonl(host_mask);
      bcast.prefix = 32;
      NlAddrPtr b = to_nl_addr(bcast);
      rtnl_addr_set_broadcast(addr.get(), b.get());
    }
    run([&] { return rtnl_addr_add(sock, addr.get(), NLM_F_EXCL); },
        fmt::format("add address {} to {}", text, ifname), exist_ok ? EEXIST : 0);
  }

  void add_default_route(int ifindex, const std::string& ifname, const std::string& gateway) {
    NlAddrPtr via = to_nl_addr(parse_ipv4(gateway, false));
    NlAddrPtr any = to_nl_addr(Ipv4Cidr{{}, 0});
    RoutePtr route(checked_alloc(rtnl_route_alloc()));
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_dst(route.get(), any.get());
    rtnl_nexthop* nh = checked_alloc(rtnl_route_nh_alloc());
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_nh_set_gateway(nh, via.get());
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh now
    run([&] { return rtnl_route_add(sock, route.get(), NLM_F_EXCL); },
        fmt::format("add default route via {} dev {}", gateway, ifname));
  }
};

Netlink::Netlink() : impl_(std::make_unique<Impl>()) {}
Netlink::Netlink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Netlink::~Netlink() = default;
Netlink::Netlink(Netlink&&) noexcept = default;
Netlink& Netlink::operator=(Netlink&&) noexcept = default;

Netlink Netlink::in_netns(const std::string& netns_path) {
  // A netlink socket belongs to the namespace it was created in, whichever
  // thread uses it later.
  std::unique_ptr<Impl> impl;
  run_in_netns(netns_path, [&] { impl = std::make_unique<Impl>(); });
  return Netlink(std::move(impl));
}

void Netlink::ensure_bridge(const BridgeConfig& cfg) {
  std::string what = fmt::format("ensure bridge {}", cfg.name);
  std::optional<Ipv4Cidr> gateway;
  try {
    check_ifname(cfg.name);
    if (!cfg.gateway_cidr.empty()) gateway = parse_ipv4(cfg.gateway_cidr, true);
  } catch (const Error& e) {
    throw e.wrap(what);
  }

  LinkPtr link = impl_->find_link(cfg.name, what);
  if (!link) {
    LinkPtr bridge(checked_alloc(rtnl_link_bridge_alloc()));
    rtnl_link_set_name(bridge.get(), cfg.name.c_str());
    rtnl_link_set_mtu(bridge.get(), cfg.mtu);
    NlAddrPtr mac = random_mac();
    rtnl_link_set_addr(bridge.get(), mac.get());
    rtnl_link_set_flags(bridge.get(), IFF_UP);
    impl_->run([&] { return rtnl_link_add(impl_->sock, bridge.get(), NLM_F_CREATE | NLM_F_EXCL); },
               fmt::format("create bridge {}", cfg.name));
    if (!gateway) return;
    link = impl_->find_link(cfg.name, what);
    if (!link) fail("{}: vanished after creation", what);
  } else {
    const char* type = rtnl_link_get_type(link.get());
    if (!type || std::strcmp(type, "bridge") != 0)
      fail("{}: {} exists and is not a bridge ({})", what, cfg.name, type ? type : "no link kind");
    if (rtnl_link_get_mtu(link.get()) != static_cast<unsigned>(cfg.mtu) ||
        !(rtnl_link_get_flags(link.get()) & IFF_UP)) {
      LinkPtr change(checked_alloc(rtnl_link_alloc()));
      rtnl_link_set_ifindex(change.get(), rtnl_link_get_ifindex(link.get()));
      rtnl_link_set_mtu(change.get(), cfg.mtu);
      rtnl_link_set_flags(change.get(), IFF_UP);
      impl_->change_link(change.get(), fmt::format("set MTU {} and up on bridge {}", cfg.mtu, cfg.name));
    }
  }
  if (gateway)
    impl_->add_address(rtnl_link_get_ifindex(link.get()), cfg.name, *gateway, cfg.gateway_cidr, /*exist_ok=*/true);
}

void Netlink::add_endpoint(const EndpointConfig& cfg) {
  std::string what = fmt::format("add endpoint {} ({} in {})", cfg.host_ifname, cfg.ifname, cfg.netns_path);
  try {
    // Everything that can be checked is checked before the kernel changes.
    for (const auto* name : {&cfg.bridge, &cfg.host_ifname, &cfg.ifname}) check_ifname(*name);
    Ipv4Cidr address = parse_ipv4(cfg.address_cidr, true);
    NlAddrPtr mac = cfg.mac.empty() ? nullptr : parse_mac(cfg.mac);
    if (!cfg.gateway.empty()) parse_ipv4(cfg.gateway, false);
    UniqueFd ns(::open(cfg.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) fail_errno("open netns {}", cfg.netns_path);
    LinkPtr bridge = impl_->find_link(cfg.bridge, fmt::format("find bridge {}", cfg.bridge));
    if (!bridge) fail("bridge {} not found", cfg.bridge);

    // One request makes both ends: the host end enslaved and up, the peer
    // born in the container's namespace with its final name, MAC and MTU
    // (no rename or move afterwards). The peer cannot come up in the same
    // request: veth refuses to open (ENOTCONN) before its pair is linked.
    LinkPtr veth(checked_alloc(rtnl_link_veth_alloc()));
    LinkPtr peer(rtnl_link_veth_get_peer(veth.get()));
    rtnl_link_set_name(veth.get(), cfg.host_ifname.c_str());
    rtnl_link_set_mtu(veth.get(), cfg.mtu);
    rtnl_link_set_master(veth.get(), rtnl_link_get_ifindex(bridge.get()));
    rtnl_link_set_flags(veth.get(), IFF_UP);
    rtnl_link_set_name(peer.get(), cfg.ifname.c_str());
    rtnl_link_set_mtu(peer.get(), cfg.mtu);
    if (mac) rtnl_link_set_addr(peer.get(), mac.get());
    rtnl_link_set_ns_fd(peer.get(), ns.get());
    impl_->run([&] { return rtnl_link_add(impl_->sock, veth.get(), NLM_F_CREATE | NLM_F_EXCL); },
               fmt::format("create veth {} (peer {}) on {}", cfg.host_ifname, cfg.ifname, cfg.bridge));

    try {
      impl_->set_hairpin(cfg.host_ifname);
      Netlink inside = in_netns(cfg.netns_path);
      LinkPtr eth = inside.impl_->find_link(cfg.ifname, "find " + cfg.ifname);
      if (!eth) fail("{} vanished from the namespace", cfg.ifname);
      int index = rtnl_link_get_ifindex(eth.get());
      LinkPtr up(checked_alloc(rtnl_link_alloc()));
      rtnl_link_set_ifindex(up.get(), index);
      rtnl_link_set_flags(up.get(), IFF_UP);
      inside.impl_->change_link(up.get(), fmt::format("set link {} up", cfg.ifname));
      inside.impl_->add_address(index, cfg.ifname, address, cfg.address_cidr, /*exist_ok=*/false);
      if (!cfg.gateway.empty()) inside.impl_->add_default_route(index, cfg.ifname, cfg.gateway);
    } catch (...) {
      try {
        delete_link(cfg.host_ifname);  // takes the peer with it
      } catch (const Error&) {  // the first error is the one worth reporting
      }
      throw;
    }
  } catch (const Error& e) {
    throw e.wrap(what);
  }
}

void Netlink::delete_link(const std::string& ifname) {
  LinkPtr link(checked_alloc(rtnl_link_alloc()));
  rtnl_link_set_name(link.get(), ifname.c_str());
  impl_->run([&] { return rtnl_link_delete(impl_->sock, link.get()); }, fmt::format("delete link {}", ifname),
             ENODEV);
}

void Netlink::set_link_up(const std::string& ifname) {
  LinkPtr change(checked_alloc(rtnl_link_alloc()));
  rtnl_link_set_name(change.get(), ifname.c_str());
  rtnl_link_set_flags(change.get(), IFF_UP);
  impl_->change_link(change.get(), fmt::format("set link {} up", ifname));
}

bool Netlink::link_exists(const std::string& ifname) {
  return impl_->find_link(ifname, fmt::format("find link {}", ifname)) != nullptr;
}

std::vector<RouteInfo> Netlink::ipv4_routes() {
  nl_cache* raw = nullptr;
  impl_->run([&] { return rtnl_route_alloc_cache(impl_->sock, AF_INET, 0, &raw); }, "list IPv4 routes");
  CachePtr routes(raw);
  impl_->run([&] { return rtnl_link_alloc_cache(impl_->sock, AF_UNSPEC, &raw); }, "list links");
  CachePtr links(raw);

  std::vector<RouteInfo> out;
  for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
    auto* route = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN) continue;
    RouteInfo info;
    nl_addr* dst = rtnl_route_get_dst(route);
    info.destination_cidr = ipv4_cidr_string(dst, dst ? nl_addr_get_prefixlen(dst) : 0);
    if (rtnl_route_get_nnexthops(route) > 0) {
      char name[IFNAMSIZ] = "";
      int index = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, 0));
      if (index > 0 && rtnl_link_i2name(links.get(), index, name, sizeof name)) info.ifname = name;
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<std::string> Netlink::ipv4_addresses() {
  nl_cache* raw = nullptr;
  impl_->run([&] { return rtnl_addr_alloc_cache(impl_->sock, &raw); }, "list addresses");
  CachePtr addrs(raw);
  std::vector<std::string> out;
  for (nl_object* o = nl_cache_get_first(addrs.get()); o; o = nl_cache_get_next(o)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_family(addr) != AF_INET) continue;
    out.push_back(ipv4_cidr_string(rtnl_addr_get_local(addr), rtnl_addr_get_prefixlen(addr)));
  }
  return out;
}

void write_sysctl(const std::string& key, const std::string& value) {
  std::string path = "/proc/sys/" + key;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("set sysctl {}", path);
  write_all_fd(fd.get(), value, path);
}

}  // namespace berth::network
