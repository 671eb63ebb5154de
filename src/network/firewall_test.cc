#include "network/firewall.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/test_util.h"

// nftables tables, links and sysctls belong to a network namespace, so every
// test works in namespaces it creates: each is held by a descriptor (never
// named under /run/netns) and vanishes with it, leaving the host untouched.

namespace berth::network {
namespace {

using test::error_of;

uint32_t ip(const std::string& s) { return parse_ipv4(s).value(); }

// Runs fn on a thread of its own and rethrows what it throws.
void on_thread(const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread t([&] {
    try {
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

// Runs a command (words separated by single spaces) in the calling thread's
// namespace: a spawned child inherits the thread's namespaces.
std::string sh(const std::string& cmd) { return run_capture(split(cmd, ' ')); }

// A new network namespace with lo up.
UniqueFd new_netns() {
  UniqueFd fd;
  on_thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) fail_errno("unshare(CLONE_NEWNET)");
    fd.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) fail_errno("open /proc/thread-self/ns/net");
    sh("ip link set lo up");
  });
  return fd;
}

void in_netns(int ns, const std::function<void()>& fn) {
  on_thread([&] {
    if (::setns(ns, CLONE_NEWNET) != 0) fail_errno("setns");
    fn();
  });
}

// A path for `ip ... netns <path>` (iproute2 opens a name with a slash as is).
std::string ns_path(int ns) { return fmt::format("/proc/{}/fd/{}", ::getpid(), ns); }

// Runs the test body in a fresh namespace; an Error fails the test.
void in_fresh_netns(const std::function<void()>& fn) {
  try {
    UniqueFd ns = new_netns();
    in_netns(ns.get(), fn);
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
  }
}

std::string list_table(const std::string& table) { return sh("nft list table ip " + table); }
std::string list_tables() { return sh("nft list tables"); }
bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- sockets ----

sockaddr_in sockaddr_of(const std::string& addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(ip(addr));
  return sa;
}

bool wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

// The server's whole answer, or "error: ..." ("error: timeout" when
// packets are dropped, "error: connection refused" when nothing is published).
std::string tcp_request(const std::string& addr, uint16_t port, int timeout_ms = 3000) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in sa = sockaddr_of(addr, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS)
    return "error: " + strerror_text(errno);
  if (!wait_for(fd.get(), POLLOUT, timeout_ms)) return "error: timeout";
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return "error: " + strerror_text(err);
  std::string reply;
  char buf[256];
  while (wait_for(fd.get(), POLLIN, timeout_ms)) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return reply;
    reply.append(buf, static_cast<size_t>(n));
  }
  return "error: timeout after \"" + reply + "\"";
}

std::string udp_request(const std::string& addr, uint16_t port, int timeout_ms = 3000) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa = sockaddr_of(addr, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return "error: " + strerror_text(errno);
  if (::send(fd.get(), "?", 1, 0) != 1) return "error: " + strerror_text(errno);
  if (!wait_for(fd.get(), POLLIN, timeout_ms)) return "error: timeout";
  char buf[256];
  ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
  if (n < 0) return "error: " + strerror_text(errno);
  return std::string(buf, static_cast<size_t>(n));
}

std::string peer_of(const sockaddr_in& sa) { return ipv4_string(ntohl(sa.sin_addr.s_addr)); }

// Answers every TCP connection and UDP datagram on port, inside namespace
// ns, with "<name> saw <peer address>": tests see where a request landed and
// which source address it arrived with.
class Server {
 public:
  Server(int ns, uint16_t port, std::string name) : name_(std::move(name)) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, ns, port, &ready] {
      try {
        if (::setns(ns, CLONE_NEWNET) != 0) fail_errno("setns");
        UniqueFd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        sockaddr_in sa = sockaddr_of("0.0.0.0", port);
        if (::bind(tcp.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(tcp.get(), 16) != 0 ||
            ::bind(udp.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
          fail_errno("server {} on port {}", name_, port);
        ready.set_value();
        serve(tcp.get(), udp.get());
      } catch (...) {
        ready.set_exception(std::current_exception());
      }
    });
    started.get();
  }
  ~Server() {
    stop_ = true;
    thread_.join();
  }

 private:
  void serve(int tcp, int udp) {
    while (!stop_) {
      pollfd fds[2] = {{tcp, POLLIN, 0}, {udp, POLLIN, 0}};
      if (::poll(fds, 2, 50) <= 0) continue;
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      if (fds[0].revents & POLLIN) {
        UniqueFd conn(::accept4(tcp, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
        if (conn.valid()) {
          std::string reply = name_ + " saw " + peer_of(peer);
          (void)!::write(conn.get(), reply.data(), reply.size());
        }
      }
      if (fds[1].revents & POLLIN) {
        char buf[64];
        len = sizeof peer;
        if (::recvfrom(udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len) >= 0) {
          std::string reply = name_ + " saw " + peer_of(peer);
          ::sendto(udp, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
        }
      }
    }
  }

  std::string name_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---- the table itself ----

BridgeNetwork network(const std::string& bridge, const std::string& subnet, bool internal = false) {
  return BridgeNetwork{bridge, Ipv4Net::parse(subnet), internal, true};
}

PortMapping port(const std::string& proto, const std::string& host_ip, uint16_t host_port,
                 const std::string& container_ip, uint16_t container_port) {
  return PortMapping{proto, host_ip.empty() ? 0 : ip(host_ip), host_port, ip(container_ip), container_port};
}

TEST(FirewallTable, SyncCreatesTheTableWithEveryRule) {
  in_fresh_netns([] {
    sh("ip link add br-one type bridge");  // exists: gets route_localnet
    Firewall fw("berth_t");
    EXPECT_EQ(fw.table(), "berth_t");
    EXPECT_EQ(list_tables(), "") << "nothing happens before sync()";
    fw.sync({network("br-one", "172.30.0.0/16"), network("br-two", "172.31.0.1/16"),
             network("br-int", "172.29.0.0/16", true)},
            {port("tcp", "", 8080, "172.30.0.2", 80), port("udp", "127.0.0.1", 5353, "172.30.0.2", 53),
             port("sctp", "", 9000, "172.30.0.3", 9)});
    std::string t = list_table("berth_t");
    for (const char* want : {
             "map tcp_any {", "map tcp_addr {", "map udp_any {", "map udp_addr {", "map sctp_any {", "map sctp_addr {",
             "elements = { 8080 : 172.30.0.2 . 80 }",
             "elements = { 127.0.0.1 . 5353 : 172.30.0.2 . 53 }",
             "elements = { 9000 : 172.30.0.3 . 9 }",
             "dnat ip to ip daddr . tcp dport map @tcp_addr",
             "dnat ip to tcp dport map @tcp_any",
             "dnat ip to udp dport map @udp_any",
             "type nat hook prerouting priority dstnat; policy accept;\n\t\tfib daddr type local jump ports",
             "type nat hook output priority -100; policy accept;\n\t\tfib daddr type local jump ports",
             "oifname \"br-one\" ip saddr 127.0.0.0/8 masquerade",
             "oifname \"br-one\" ip saddr 172.30.0.0/16 ct status dnat masquerade",
             "ip saddr 172.30.0.0/16 oifname != \"br-one\" masquerade",
             "ip saddr 172.31.0.0/16 oifname != \"br-two\" masquerade",  // host bits dropped
             "iifname \"br-int\" oifname != \"br-int\" drop",
             "oifname \"br-int\" iifname != \"br-int\" drop",
             "ct state established,related accept",
             "iifname \"br-one\" oifname { \"br-two\", \"br-int\" } drop",
             "iifname \"br-two\" oifname { \"br-one\", \"br-int\" } drop",
         }) {
      EXPECT_TRUE(contains(t, want)) << "missing: " << want << "\nin:\n" << t;
    }
    EXPECT_FALSE(contains(t, "172.29.0.0/16 oifname")) << "an internal network is not masqueraded";
    EXPECT_EQ(trim(read_file("/proc/sys/net/ipv4/ip_forward")), "1");
    EXPECT_EQ(trim(read_file("/proc/sys/net/ipv4/conf/br-one/route_localnet")), "1");
  });
}

TEST(FirewallTable, NoMasqueradeWhenTheNetworkOptsOut) {
  in_fresh_netns([] {
    Firewall fw("berth_t");
    BridgeNetwork n = network("br-nomasq", "172.30.0.0/16");
    n.masquerade = false;
    fw.sync({n}, {});
    std::string t = list_table("berth_t");
    EXPECT_FALSE(contains(t, "oifname != \"br-nomasq\" masquerade")) << t;
    EXPECT_TRUE(contains(t, "ct status dnat masquerade")) << "hairpin still works";
  });
}

TEST(FirewallTable, SyncIsIdempotentAndReplacesTheWholeTable) {
  in_fresh_netns([] {
    Firewall fw("berth_t");
    std::vector<BridgeNetwork> nets = {network("br-a", "172.30.0.0/16")};
    fw.sync(nets, {port("tcp", "", 8080, "172.30.0.2", 80)});
    std::string first = list_table("berth_t");
    fw.sync(nets, {port("tcp", "", 8080, "172.30.0.2", 80)});
    EXPECT_EQ(list_table("berth_t"), first);

    // A repeated mapping is one element, not an error.
    fw.sync(nets, {port("tcp", "", 8080, "172.30.0.2", 80), port("tcp", "", 8080, "172.30.0.2", 80)});
    EXPECT_EQ(list_table("berth_t"), first);

    fw.sync({network("br-b", "172.31.0.0/16")}, {port("udp", "", 53, "172.31.0.9", 53)});
    std::string second = list_table("berth_t");
    EXPECT_FALSE(contains(second, "8080")) << second;
    EXPECT_FALSE(contains(second, "br-a")) << second;
    EXPECT_TRUE(contains(second, "53 : 172.31.0.9 . 53")) << second;
    EXPECT_TRUE(contains(second, "br-b")) << second;
  });
}

TEST(FirewallTable, FailedSyncLeavesThePreviousTableInPlace) {
  in_fresh_netns([] {
    Firewall fw("berth_t");
    fw.sync({network("br-a", "172.30.0.0/16")}, {port("tcp", "", 8080, "172.30.0.2", 80)});
    std::string before = list_table("berth_t");
    // One host port leading to two containers: the kernel refuses the set,
    // after the old table's deletion in the same transaction.
    std::string err = error_of([&] {
      fw.sync({network("br-b", "172.31.0.0/16")},
              {port("tcp", "", 9090, "172.31.0.2", 80), port("tcp", "", 9090, "172.31.0.3", 80)});
    });
    EXPECT_TRUE(contains(err, "nftables: sync table ip berth_t: Could not process rule: File exists")) << err;
    EXPECT_TRUE(contains(err, "9090 : 172.31.0.2 . 80")) << "names the input: " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << "one line: " << err;
    EXPECT_EQ(list_table("berth_t"), before);
  });
}

TEST(FirewallTable, RemoveTableDeletesOnlyOursAndToleratesAbsence) {
  in_fresh_netns([] {
    sh("nft add table ip canary");
    Firewall fw("berth_t");
    fw.remove_table();  // never created
    fw.sync({network("br-a", "172.30.0.0/16")}, {});
    EXPECT_TRUE(contains(list_tables(), "table ip berth_t"));
    fw.remove_table();
    EXPECT_EQ(list_tables(), "table ip canary\n");
    fw.remove_table();
  });
}

TEST(FirewallTable, TwoTablesLiveSideBySide) {
  in_fresh_netns([] {
    Firewall a("berth_a"), b("berth_b");
    a.sync({network("br-a", "172.30.0.0/16")}, {port("tcp", "", 1111, "172.30.0.2", 80)});
    b.sync({network("br-b", "172.31.0.0/16")}, {port("tcp", "", 2222, "172.31.0.2", 80)});
    a.sync({}, {});
    EXPECT_TRUE(contains(list_table("berth_b"), "2222 : 172.31.0.2 . 80"));
  });
}

TEST(FirewallTable, HostileNamesAreRefusedNotInjected) {
  in_fresh_netns([] {
    sh("nft add table ip canary");
    EXPECT_EQ(error_of([] { Firewall fw("x; flush ruleset"); }), "invalid nftables table name \"x; flush ruleset\"");
    EXPECT_THROW(Firewall(""), Error);
    Firewall fw("berth_t");
    std::string hostile = "a\" drop; }";
    EXPECT_EQ(error_of([&] { fw.sync({network(hostile, "172.30.0.0/16")}, {}); }),
              "invalid bridge name \"" + hostile + "\"");
    EXPECT_EQ(error_of([&] { fw.sync({network("br-muchtoolongname", "172.30.0.0/16")}, {}); }),
              "invalid bridge name \"br-muchtoolongname\"");
    EXPECT_EQ(error_of([&] { fw.sync({network("", "172.30.0.0/16")}, {}); }), "invalid bridge name \"\"");
    EXPECT_EQ(error_of([&] { fw.add_ports({port("icmp; flush ruleset", "", 80, "172.30.0.2", 80)}); }),
              "invalid protocol \"icmp; flush ruleset\" for a published port");
    EXPECT_EQ(error_of([&] { fw.sync({}, {port("tcp", "", 0, "172.30.0.2", 80)}); }),
              "invalid port mapping 0.0.0.0:0 -> 172.30.0.2:80/tcp");
    EXPECT_EQ(error_of([&] { fw.remove_ports({port("tcp", "1.2.3.4", 80, "0.0.0.0", 80)}); }),
              "invalid port mapping 1.2.3.4:80 -> 0.0.0.0:80/tcp");
    EXPECT_EQ(list_tables(), "table ip canary\n") << "nothing was created or flushed";
  });
}

// ---- published ports ----

TEST(FirewallPorts, AddAndRemoveChangeOnlyTheMaps) {
  in_fresh_netns([] {
    Firewall fw("berth_t");
    fw.sync({network("br-a", "172.30.0.0/16")}, {port("tcp", "", 7000, "172.30.0.7", 70)});
    fw.add_ports({});
    fw.add_ports({port("tcp", "", 8080, "172.30.0.2", 80), port("tcp", "127.0.0.1", 8081, "172.30.0.2", 81),
                  port("udp", "", 5353, "172.30.0.3", 53)});
    fw.add_ports({port("tcp", "", 8080, "172.30.0.2", 80)});  // again: no change, no error
    std::string t = list_table("berth_t");
    EXPECT_TRUE(contains(t, "8080 : 172.30.0.2 . 80")) << t;
    EXPECT_TRUE(contains(t, "127.0.0.1 . 8081 : 172.30.0.2 . 81")) << t;
    EXPECT_TRUE(contains(t, "5353 : 172.30.0.3 . 53")) << t;

    fw.remove_ports({port("tcp", "", 8080, "172.30.0.2", 80), port("tcp", "127.0.0.1", 8081, "172.30.0.2", 81)});
    t = list_table("berth_t");
    EXPECT_FALSE(contains(t, "8080")) << t;
    EXPECT_FALSE(contains(t, "8081")) << t;
    EXPECT_TRUE(contains(t, "5353 : 172.30.0.3 . 53")) << t;
    EXPECT_TRUE(contains(t, "7000 : 172.30.0.7 . 70")) << "from sync, untouched: " << t;
    EXPECT_TRUE(contains(t, "ip saddr 172.30.0.0/16 oifname != \"br-a\" masquerade")) << "rules untouched";
  });
}

TEST(FirewallPorts, AddingAPortThatLeadsElsewhereFailsWithNftablesMessage) {
  in_fresh_netns([] {
    Firewall fw("berth_t");
    fw.sync({}, {port("tcp", "", 8080, "172.30.0.2", 80)});
    std::string err = error_of([&] { fw.add_ports({port("tcp", "", 8080, "172.30.0.3", 80)}); });
    EXPECT_TRUE(contains(err, "nftables: publish ports in table ip berth_t: Could not process rule: File exists"))
        << err;
    EXPECT_TRUE(contains(err, "8080 : 172.30.0.3 . 80")) << err;
    EXPECT_TRUE(contains(list_table("berth_t"), "8080 : 172.30.0.2 . 80"));
  });
}

TEST(FirewallPorts, AddingBeforeSyncNamesTheMissingTable) {
  in_fresh_netns([] {
    Firewall fw("berth_t");
    std::string err = error_of([&] { fw.add_ports({port("tcp", "", 8080, "172.30.0.2", 80)}); });
    EXPECT_TRUE(contains(err, "nftables: publish ports in table ip berth_t: ")) << err;
    EXPECT_TRUE(contains(err, "No such file or directory")) << err;
  });
}

TEST(FirewallPorts, RemovingAbsentPortsIsNotAnError) {
  in_fresh_netns([] {
    Firewall fw("berth_t");
    fw.remove_ports({port("tcp", "", 8080, "172.30.0.2", 80)});  // no table at all
    fw.sync({}, {port("tcp", "", 8080, "172.30.0.2", 80), port("udp", "10.0.0.1", 53, "172.30.0.5", 53)});
    fw.remove_ports({});
    fw.remove_ports({port("tcp", "", 9999, "172.30.0.2", 80), port("udp", "10.0.0.2", 53, "172.30.0.5", 53)});
    // Listed twice, deleted once.
    fw.remove_ports({port("tcp", "", 8080, "172.30.0.2", 80), port("tcp", "", 8080, "172.30.0.2", 80)});
    fw.remove_ports({port("tcp", "", 8080, "172.30.0.2", 80)});
    std::string t = list_table("berth_t");
    EXPECT_FALSE(contains(t, "8080")) << t;
    EXPECT_TRUE(contains(t, "10.0.0.1 . 53 : 172.30.0.5 . 53")) << t;
  });
}

TEST(FirewallPorts, RemovingLeavesAPortThatNowLeadsElsewhere) {
  in_fresh_netns([] {
    Firewall fw("berth_t");
    fw.sync({}, {port("tcp", "", 8080, "172.30.0.3", 80)});
    fw.remove_ports({port("tcp", "", 8080, "172.30.0.2", 80)});    // another container's old mapping
    fw.remove_ports({port("udp", "", 8080, "172.30.0.3", 80)});    // another protocol
    fw.remove_ports({port("tcp", "", 8080, "172.30.0.3", 8080)});  // another container port
    EXPECT_TRUE(contains(list_table("berth_t"), "8080 : 172.30.0.3 . 80"));
  });
}

TEST(FirewallPorts, RemovalTrustsTheKernelAfterARestartOrAFlush) {
  in_fresh_netns([] {
    {
      Firewall before_restart("berth_t");
      before_restart.sync({}, {port("tcp", "", 8080, "172.30.0.2", 80), port("tcp", "", 8081, "172.30.0.2", 81)});
    }
    Firewall fw("berth_t");  // a new daemon that has not synced yet
    fw.remove_ports({port("tcp", "", 8080, "172.30.0.2", 80)});
    EXPECT_FALSE(contains(list_table("berth_t"), "8080 :"));
    sh("nft flush map ip berth_t tcp_any");  // another program empties the map
    fw.remove_ports({port("tcp", "", 8081, "172.30.0.2", 81)});
    sh("nft delete table ip berth_t");  // ...or drops the table
    fw.remove_ports({port("tcp", "", 8081, "172.30.0.2", 81)});
  });
}

// ---- real traffic ----

// Three bridges in a "host" namespace: br-one (172.30/16) with containers
// c1 (.2, serving) and c2 (.3); br-two (172.31/16) with c3 (.2, serving);
// br-int, internal (172.29/16), with c4 (.2, serving). "ext" (10.99.0.2,
// serving on 9000) hangs off the host (10.99.0.1) by a plain veth: the
// outside world. Servers answer on port 80 (and 9000 for ext).
class World {
 public:
  World() {
    in_netns(host.get(), [&] {
      bridge("br-one", "172.30.0.1/16");
      bridge("br-two", "172.31.0.1/16");
      bridge("br-int", "172.29.0.1/16");
      attach(c1.get(), "br-one", "vc1", "172.30.0.2/16", "172.30.0.1");
      attach(c2.get(), "br-one", "vc2", "172.30.0.3/16", "172.30.0.1");
      attach(c3.get(), "br-two", "vc3", "172.31.0.2/16", "172.31.0.1");
      attach(c4.get(), "br-int", "vc4", "172.29.0.2/16", "172.29.0.1");
      sh(fmt::format("ip link add vext type veth peer name eth0 netns {}", ns_path(ext.get())));
      sh("ip addr add 10.99.0.1/24 dev vext");
      sh("ip link set vext up");
      in_netns(ext.get(), [] {
        sh("ip addr add 10.99.0.2/24 dev eth0");
        sh("ip link set eth0 up");
        // A way to the internal network only (to see it refused); answers
        // to the others' addresses cannot go back unless masqueraded.
        sh("ip route add 172.29.0.0/16 via 10.99.0.1");
      });
    });
    servers.push_back(std::make_unique<Server>(c1.get(), 80, "c1"));
    servers.push_back(std::make_unique<Server>(c3.get(), 80, "c3"));
    servers.push_back(std::make_unique<Server>(c4.get(), 80, "c4"));
    servers.push_back(std::make_unique<Server>(ext.get(), 9000, "ext"));
  }

  std::vector<BridgeNetwork> networks() const {
    return {network("br-one", "172.30.0.0/16"), network("br-two", "172.31.0.0/16"),
            network("br-int", "172.29.0.0/16", true)};
  }

  UniqueFd host = new_netns(), c1 = new_netns(), c2 = new_netns(), c3 = new_netns(), c4 = new_netns(),
           ext = new_netns();
  std::vector<std::unique_ptr<Server>> servers;

 private:
  static void bridge(const std::string& name, const std::string& cidr) {
    sh(fmt::format("ip link add {} type bridge", name));
    sh(fmt::format("ip addr add {} dev {}", cidr, name));
    sh(fmt::format("ip link set {} up", name));
  }
  static void attach(int ns, const std::string& br, const std::string& veth, const std::string& cidr,
                     const std::string& gateway) {
    sh(fmt::format("ip link add {} type veth peer name eth0 netns {}", veth, ns_path(ns)));
    sh(fmt::format("ip link set {} master {} up", veth, br));
    in_netns(ns, [&] {
      sh(fmt::format("ip addr add {} dev eth0", cidr));
      sh("ip link set eth0 up");
      sh(fmt::format("ip route add default via {}", gateway));
    });
  }
};

// Wraps a traffic test: namespaces and servers built, errors reported.
void with_world(const std::function<void(World&)>& fn) {
  try {
    World w;
    in_netns(w.host.get(), [&] { fn(w); });
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
  }
}

std::string tcp_from(int ns, const std::string& addr, uint16_t port, int timeout_ms = 3000) {
  std::string reply;
  in_netns(ns, [&] { reply = tcp_request(addr, port, timeout_ms); });
  return reply;
}

constexpr int kDropped = 700;  // ms: long enough for a SYN to be answered on any loopback

TEST(FirewallTraffic, PublishedPortReachesTheContainerUntilRemoved) {
  with_world([](World& w) {
    Firewall fw("berth_t");
    fw.sync(w.networks(), {});
    EXPECT_EQ(tcp_request("127.0.0.1", 8080), "error: connection refused") << "nothing published yet";
    std::vector<PortMapping> ports = {port("tcp", "", 8080, "172.30.0.2", 80),
                                      port("udp", "", 8080, "172.30.0.2", 80),
                                      port("tcp", "127.0.0.1", 8081, "172.30.0.2", 80)};
    fw.add_ports(ports);
    // From this host, over loopback (masqueraded to the gateway: the
    // container cannot answer 127.0.0.1) and to the gateway address.
    EXPECT_EQ(tcp_request("127.0.0.1", 8080), "c1 saw 172.30.0.1");
    EXPECT_EQ(tcp_request("172.30.0.1", 8080), "c1 saw 172.30.0.1");
    EXPECT_EQ(udp_request("127.0.0.1", 8080), "c1 saw 172.30.0.1");
    // From outside, through the host's external address: no masquerade.
    EXPECT_EQ(tcp_from(w.ext.get(), "10.99.0.1", 8080), "c1 saw 10.99.0.2");
    // A mapping bound to one host address answers there only.
    EXPECT_EQ(tcp_request("127.0.0.1", 8081), "c1 saw 172.30.0.1");
    EXPECT_EQ(tcp_request("172.30.0.1", 8081), "error: connection refused");

    fw.remove_ports(ports);
    EXPECT_EQ(tcp_request("127.0.0.1", 8080), "error: connection refused");
    EXPECT_EQ(tcp_request("172.30.0.1", 8080), "error: connection refused");
    EXPECT_EQ(tcp_request("127.0.0.1", 8081), "error: connection refused");
    EXPECT_EQ(tcp_from(w.ext.get(), "10.99.0.1", 8080), "error: connection refused");
  });
}

TEST(FirewallTraffic, PortsGivenToSyncArePublished) {
  with_world([](World& w) {
    Firewall fw("berth_t");
    fw.sync(w.networks(), {port("tcp", "", 8080, "172.31.0.2", 80)});
    EXPECT_EQ(tcp_request("127.0.0.1", 8080), "c3 saw 172.31.0.1");
    fw.sync(w.networks(), {});
    EXPECT_EQ(tcp_request("127.0.0.1", 8080), "error: connection refused");
  });
}

TEST(FirewallTraffic, HairpinFromANeighbourIsMasqueraded) {
  with_world([](World& w) {
    Firewall fw("berth_t");
    fw.sync(w.networks(), {port("tcp", "", 8080, "172.30.0.2", 80)});
    // c2 -> gateway:8080 -> c1 on the same bridge: c1 must answer through
    // the host, so it sees the gateway, not c2.
    EXPECT_EQ(tcp_from(w.c2.get(), "172.30.0.1", 8080), "c1 saw 172.30.0.1");
    EXPECT_EQ(tcp_from(w.c2.get(), "10.99.0.1", 8080), "c1 saw 172.30.0.1");
    // Without the table, the same request goes nowhere.
    fw.remove_table();
    EXPECT_EQ(tcp_from(w.c2.get(), "172.30.0.1", 8080), "error: connection refused");
  });
}

TEST(FirewallTraffic, TrafficLeavingANetworkIsMasqueraded) {
  with_world([](World& w) {
    Firewall fw("berth_t");
    fw.sync(w.networks(), {});
    EXPECT_EQ(tcp_from(w.c1.get(), "10.99.0.2", 9000), "ext saw 10.99.0.1");
    // ext has no route back to 172.30/16: without masquerade no answer.
    fw.sync({}, {});
    EXPECT_EQ(tcp_from(w.c1.get(), "10.99.0.2", 9000, kDropped), "error: timeout");
  });
}

TEST(FirewallTraffic, BridgesAreIsolatedButPublishedPortsArePublic) {
  with_world([](World& w) {
    Firewall fw("berth_t");
    fw.sync(w.networks(), {port("tcp", "", 8080, "172.30.0.2", 80)});
    EXPECT_EQ(tcp_from(w.c1.get(), "172.31.0.2", 80, kDropped), "error: timeout");
    EXPECT_EQ(tcp_from(w.c3.get(), "172.30.0.2", 80, kDropped), "error: timeout");
    EXPECT_EQ(tcp_from(w.c3.get(), "172.31.0.1", 8080), "c1 saw 172.30.0.1");
    // The table, not the topology, was in the way.
    fw.remove_table();
    EXPECT_EQ(tcp_from(w.c1.get(), "172.31.0.2", 80), "c3 saw 172.30.0.2");
  });
}

TEST(FirewallTraffic, InternalNetworkIsCutOff) {
  with_world([](World& w) {
    Firewall fw("berth_t");
    fw.sync(w.networks(), {});
    EXPECT_EQ(tcp_from(w.c4.get(), "10.99.0.2", 9000, kDropped), "error: timeout");
    EXPECT_EQ(tcp_from(w.c4.get(), "172.30.0.2", 80, kDropped), "error: timeout");
    EXPECT_EQ(tcp_from(w.c1.get(), "172.29.0.2", 80, kDropped), "error: timeout");
    EXPECT_EQ(tcp_from(w.ext.get(), "172.29.0.2", 80, kDropped), "error: timeout");
    // Only the host's own traffic to the bridge is not forwarded, so not dropped.
    EXPECT_EQ(tcp_request("172.29.0.2", 80), "c4 saw 172.29.0.1");
  });
}

// ---- port reservations ----

TEST(PortReservation, KernelPicksAPortForZero) {
  in_fresh_netns([] {
    auto range = split(std::string(trim(read_file("/proc/sys/net/ipv4/ip_local_port_range"))), '\t');
    ASSERT_EQ(range.size(), 2u);
    for (const char* proto : {"tcp", "udp"}) {
      PortReservation r = PortReservation::bind(proto, 0, 0);
      EXPECT_GE(r.port(), std::stoi(range[0])) << proto;
      EXPECT_LE(r.port(), std::stoi(range[1])) << proto;
      EXPECT_EQ(error_of([&] { PortReservation::bind(proto, 0, r.port()); }),
                fmt::format("Bind for 0.0.0.0:{} failed: port is already allocated", r.port()));
    }
  });
}

TEST(PortReservation, HoldsThePortAgainstEveryOtherBind) {
  in_fresh_netns([] {
    PortReservation r = PortReservation::bind("tcp", 0, 8080);
    EXPECT_EQ(r.port(), 8080);
    EXPECT_EQ(error_of([] { PortReservation::bind("tcp", 0, 8080); }),
              "Bind for 0.0.0.0:8080 failed: port is already allocated");
    EXPECT_EQ(error_of([] { PortReservation::bind("tcp", ip("127.0.0.1"), 8080); }),
              "Bind for 127.0.0.1:8080 failed: port is already allocated");
    // A program that asks for SO_REUSEADDR cannot share it either.
    UniqueFd other(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(other.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa = sockaddr_of("0.0.0.0", 8080);
    int rc = ::bind(other.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int err = errno;
    EXPECT_NE(rc, 0);
    EXPECT_EQ(err, EADDRINUSE);
    // Protocols are separate spaces.
    PortReservation udp = PortReservation::bind("udp", 0, 8080);
    EXPECT_EQ(udp.port(), 8080);
  });
}

TEST(PortReservation, ReleasesThePortWhenDestroyedAndMovesOwnership) {
  in_fresh_netns([] {
    {
      PortReservation a = PortReservation::bind("tcp", ip("127.0.0.1"), 8080);
      PortReservation b = std::move(a);
      EXPECT_EQ(b.port(), 8080);
      EXPECT_EQ(a.port(), 0);  // NOLINT(bugprone-use-after-move): moved-from state is part of the contract
      PortReservation c;
      c = std::move(b);
      EXPECT_EQ(c.port(), 8080);
      EXPECT_THROW(PortReservation::bind("tcp", ip("127.0.0.1"), 8080), Error);
    }
    PortReservation again = PortReservation::bind("tcp", ip("127.0.0.1"), 8080);
    EXPECT_EQ(again.port(), 8080);
  });
}

TEST(PortReservation, BindRangeTakesTheFirstFreePort) {
  in_fresh_netns([] {
    PortReservation a = PortReservation::bind("udp", 0, 8000);
    PortReservation b = PortReservation::bind("udp", 0, 8001);
    PortReservation r = PortReservation::bind_range("udp", 0, 8000, 8003);
    EXPECT_EQ(r.port(), 8002);
    EXPECT_EQ(PortReservation::bind_range("udp", 0, 8003, 8003).port(), 8003);
    EXPECT_EQ(error_of([] { PortReservation::bind_range("udp", 0, 8000, 8002); }),
              "Bind for 0.0.0.0:8000-8002 failed: port is already allocated");
    EXPECT_EQ(error_of([] { PortReservation::bind_range("udp", 0, 9000, 8000); }), "invalid port range 9000-8000");
  });
}

TEST(PortReservation, OtherFailuresNameTheAddress) {
  in_fresh_netns([] {
    EXPECT_EQ(error_of([] { PortReservation::bind("tcp", ip("192.0.2.7"), 80); }),
              "bind tcp 192.0.2.7:80: cannot assign requested address");
    EXPECT_EQ(error_of([] { PortReservation::bind("icmp", 0, 80); }), "invalid protocol \"icmp\" for a published port");
  });
}

}  // namespace
}  // namespace berth::network
