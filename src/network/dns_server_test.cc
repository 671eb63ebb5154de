#include "network/dns_server.h"

// ldns's headers #define true/false as 0/1 unless stdbool.h came first
// (which breaks fmt's templates): keep this order.
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers)

#include <ldns/ldns.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>
#include <random>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fd.h"

namespace berth::network {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kWeb1 = 0x0a000002;    // 10.0.0.2, "web" for client c1
constexpr uint32_t kWeb2 = 0x0a000102;    // 10.0.1.2, "web" for client c2
constexpr uint32_t kUpstreamUdp = 0xc000024d;  // 192.0.2.77: the fake upstream's answer over UDP
constexpr uint32_t kUpstreamTcp = 0xc000024e;  // 192.0.2.78: ... and over TCP

bool have_root_and_ip() {
  return ::geteuid() == 0 && (::access("/usr/sbin/ip", X_OK) == 0 || ::access("/sbin/ip", X_OK) == 0);
}

// A pinned network namespace with lo up, made with iproute2 as `ip netns`
// users would; deleted at the end of the test.
class TestNetns {
 public:
  TestNetns() {
    static std::atomic<int> counter{0};
    name_ = fmt::format("berth-dns-{}-{}", ::getpid(), counter++);
    if (std::system(fmt::format("ip netns add {} && ip -n {} link set lo up", name_, name_).c_str()) != 0)
      fail("ip netns add {} failed", name_);
  }
  ~TestNetns() { [[maybe_unused]] int rc = std::system(fmt::format("ip netns del {}", name_).c_str()); }
  std::string path() const { return "/run/netns/" + name_; }

 private:
  std::string name_;
};

// Runs fn on a thread that joined the namespace at path.
void in_netns(const std::string& path, const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread([&] {
    try {
      UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns.valid() || ::setns(ns.get(), CLONE_NEWNET) != 0) fail_errno("join {}", path);
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  }).join();
  if (error) std::rethrow_exception(error);
}

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

std::string to_wire(const ldns_pkt* p) {
  uint8_t* buf = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&buf, p, &size) != LDNS_STATUS_OK) return "";
  std::string out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  return out;
}

Pkt parse(const std::string& wire) {
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, reinterpret_cast<const uint8_t*>(wire.data()), wire.size()) != LDNS_STATUS_OK) return nullptr;
  return Pkt(p);
}

std::string make_query(const std::string& name, ldns_rr_type type, uint16_t id) {
  Pkt q(ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, LDNS_RR_CLASS_IN, LDNS_RD));
  ldns_pkt_set_id(q.get(), id);
  return to_wire(q.get());
}

uint32_t a_of(const ldns_rr* rr) {
  uint32_t net;
  std::memcpy(&net, ldns_rdf_data(ldns_rr_rdf(rr, 0)), 4);
  return ntohl(net);
}

std::string owner_of(const ldns_rr* rr) {
  char* s = ldns_rdf2str(ldns_rr_owner(rr));
  std::string out(s);
  std::free(s);
  return out;
}

sockaddr_in v4(uint32_t addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(addr);
  sa.sin_port = htons(port);
  return sa;
}
const sockaddr_in kDnsAddr = v4(0x7f00000b, 53);  // 127.0.0.11:53

// The outcome of one exchange: the answer, or the errno of the failure
// (ETIMEDOUT when nothing came back).
struct Reply {
  int err = 0;
  std::string wire;
};

Reply udp_exchange_here(int fd, const std::string& query, int timeout_ms) {
  if (::send(fd, query.data(), query.size(), 0) < 0) return {errno, ""};
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return {ETIMEDOUT, ""};
  char buf[65536];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0) return {errno, ""};
  return {0, std::string(buf, size_t(n))};
}

UniqueFd udp_client() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&kDnsAddr), sizeof kDnsAddr) != 0) fail_errno("connect");
  return fd;
}

Reply udp_exchange(const std::string& netns, const std::string& query, int timeout_ms = 3000) {
  Reply r;
  in_netns(netns, [&] {
    UniqueFd fd = udp_client();
    r = udp_exchange_here(fd.get(), query, timeout_ms);
  });
  return r;
}

// After a flood the listener's queue may have been full when the query
// arrived, and UDP drops it: retry as a stub resolver does.
Reply udp_exchange_retrying(const std::string& netns, const std::string& query) {
  Reply r;
  for (int i = 0; i < 10; ++i) {
    r = udp_exchange(netns, query, 500);
    if (r.err != ETIMEDOUT) break;
  }
  return r;
}

bool read_full(int fd, char* buf, size_t n, int timeout_ms) {
  size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += size_t(r);
  }
  return true;
}

// One framed query on a fresh connection, as a stub resolver retrying over TCP does.
Reply tcp_exchange(const std::string& netns, const std::string& query, int timeout_ms = 3000) {
  Reply r;
  in_netns(netns, [&] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&kDnsAddr), sizeof kDnsAddr) != 0) {
      r = {errno, ""};
      return;
    }
    std::string framed{char(query.size() >> 8), char(query.size() & 0xff)};
    framed += query;
    if (::write(fd.get(), framed.data(), framed.size()) != ssize_t(framed.size())) {
      r = {errno, ""};
      return;
    }
    char len[2];
    if (!read_full(fd.get(), len, 2, timeout_ms)) {
      r = {ETIMEDOUT, ""};
      return;
    }
    std::string body(size_t(uint8_t(len[0])) << 8 | uint8_t(len[1]), '\0');
    if (!read_full(fd.get(), body.data(), body.size(), timeout_ms)) {
      r = {ETIMEDOUT, ""};
      return;
    }
    r = {0, body};
  });
  return r;
}

// A resolver on 127.0.0.1:<port> in the test's own namespace (where the
// server's forwarding sockets live), UDP and TCP on the same port. It
// answers every A query with a recognisable address (a different one over
// TCP), "tc.test" with a truncated empty answer, "refused.test" with
// REFUSED, and never answers when silent.
class FakeUpstream {
 public:
  explicit FakeUpstream(bool silent = false) : silent_(silent) {
    for (int tries = 0; tries < 20 && !tcp_.valid(); ++tries) {
      udp_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      sockaddr_in sa = v4(INADDR_LOOPBACK, 0);
      socklen_t len = sizeof sa;
      if (::bind(udp_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) fail_errno("bind upstream");
      ::getsockname(udp_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
      port_ = ntohs(sa.sin_port);
      UniqueFd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      int one = 1;
      ::setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(tcp.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(tcp.get(), 16) == 0)
        tcp_ = std::move(tcp);
    }
    if (!tcp_.valid()) fail("no port free for both UDP and TCP");
    stop_.reset(::eventfd(0, EFD_CLOEXEC));
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeUpstream() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }
  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }
  int udp_queries() const { return udp_queries_; }
  int tcp_queries() const { return tcp_queries_; }

 private:
  std::string answer(const std::string& query, uint32_t addr) {
    Pkt q = parse(query);
    if (!q) return "";
    Pkt r(ldns_pkt_new());
    ldns_pkt_set_id(r.get(), ldns_pkt_id(q.get()));
    ldns_pkt_set_qr(r.get(), true);
    ldns_pkt_set_rd(r.get(), ldns_pkt_rd(q.get()));
    ldns_pkt_set_ra(r.get(), true);
    ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(q.get()), 0);
    ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
    char* name = ldns_rdf2str(ldns_rr_owner(question));
    std::string qname(name);
    std::free(name);
    if (qname == "tc.test.") {
      ldns_pkt_set_tc(r.get(), true);
    } else if (qname == "refused.test.") {
      ldns_pkt_set_rcode(r.get(), LDNS_RCODE_REFUSED);
    } else {
      ldns_rr* rr = ldns_rr_new();
      ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(question)));
      ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
      ldns_rr_set_ttl(rr, 42);
      uint32_t net = htonl(addr);
      ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &net));
      ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, rr);
    }
    return to_wire(r.get());
  }

  void serve() {
    for (;;) {
      pollfd fds[3] = {{stop_.get(), POLLIN, 0}, {udp_.get(), POLLIN, 0}, {tcp_.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) <= 0) continue;
      if (fds[0].revents) return;
      if (fds[1].revents) {
        char buf[65536];
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        ssize_t n = ::recvfrom(udp_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len);
        if (n <= 0) continue;
        ++udp_queries_;
        if (silent_) continue;
        std::string a = answer(std::string(buf, size_t(n)), kUpstreamUdp);
        ::sendto(udp_.get(), a.data(), a.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
      }
      if (fds[2].revents) {
        UniqueFd conn(::accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        char len[2];
        if (!conn.valid() || !read_full(conn.get(), len, 2, 2000)) continue;
        std::string body(size_t(uint8_t(len[0])) << 8 | uint8_t(len[1]), '\0');
        if (!read_full(conn.get(), body.data(), body.size(), 2000)) continue;
        ++tcp_queries_;
        if (silent_) continue;
        std::string a = answer(body, kUpstreamTcp);
        std::string framed{char(a.size() >> 8), char(a.size() & 0xff)};
        framed += a;
        [[maybe_unused]] ssize_t w = ::write(conn.get(), framed.data(), framed.size());
      }
    }
  }

  bool silent_;
  UniqueFd udp_, tcp_, stop_;
  uint16_t port_ = 0;
  std::atomic<int> udp_queries_{0}, tcp_queries_{0};
  std::thread thread_;
};

// An address where nothing listens: queries to it are refused at once.
std::string closed_port_address() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa = v4(INADDR_LOOPBACK, 0);
  socklen_t len = sizeof sa;
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  return fmt::format("127.0.0.1:{}", ntohs(sa.sin_port));
}

// The engine's side: "web" and "web.mynet" exist with a per-client address;
// lookups are recorded with the client key they came with.
class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root_and_ip()) GTEST_SKIP() << "needs root and iproute2";
  }

  DnsBackend backend() {
    DnsBackend b;
    b.lookup = [this](const std::string& client, const std::string& name) -> std::vector<uint32_t> {
      std::lock_guard lock(mu_);
      lookups_.emplace_back(client, name);
      if (name == "web" || name == "web.mynet") return {client == "c2" ? kWeb2 : kWeb1};
      if (name == "db") return {0x0a000003, 0x0a000004};
      return {};
    };
    b.reverse = [](const std::string&, uint32_t addr) -> std::string { return addr == kWeb1 ? "web.mynet" : ""; };
    return b;
  }

  std::vector<std::pair<std::string, std::string>> lookups() {
    std::lock_guard lock(mu_);
    return lookups_;
  }

  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> lookups_;
};

TEST_F(DnsServerTest, AnswersBackendNameOverUdpCaseInsensitively) {
  TestNetns ns;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());

  Reply r = udp_exchange(ns.path(), make_query("WeB.MyNet.", LDNS_RR_TYPE_A, 4242));
  ASSERT_EQ(r.err, 0) << strerror_text(r.err);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_id(p.get()), 4242);
  EXPECT_TRUE(ldns_pkt_qr(p.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
  ldns_rr* a = ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0);
  EXPECT_EQ(ldns_rr_get_type(a), LDNS_RR_TYPE_A);
  EXPECT_EQ(ldns_rr_ttl(a), 600u);
  EXPECT_EQ(a_of(a), kWeb1);
  EXPECT_EQ(owner_of(a), "WeB.MyNet.");  // the question's spelling, as asked
  auto calls = lookups();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_pair(std::string("c1"), std::string("web.mynet")));
}

TEST_F(DnsServerTest, AnswersEveryAddressOfAName) {
  TestNetns ns;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());
  Reply r = udp_exchange(ns.path(), make_query("db.", LDNS_RR_TYPE_A, 1));
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 2);
  std::vector<uint32_t> got = {a_of(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0)),
                               a_of(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 1))};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<uint32_t>{0x0a000003, 0x0a000004}));
}

TEST_F(DnsServerTest, AnswersBackendNameOverTcp) {
  TestNetns ns;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());
  Reply r = tcp_exchange(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 7));
  ASSERT_EQ(r.err, 0) << strerror_text(r.err);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_id(p.get()), 7);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
  EXPECT_EQ(a_of(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0)), kWeb1);
}

TEST_F(DnsServerTest, AaaaOfKnownNameIsEmptyNoerrorWithoutForwarding) {
  TestNetns ns;
  FakeUpstream upstream;
  DnsServer server(backend(), {upstream.address()});
  server.add("c1", ns.path());
  Reply r = udp_exchange(ns.path(), make_query("web.", LDNS_RR_TYPE_AAAA, 9));
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
  EXPECT_EQ(ldns_pkt_qdcount(p.get()), 1);
  EXPECT_EQ(upstream.udp_queries(), 0);
}

TEST_F(DnsServerTest, AnswersPtrForBackendAddresses) {
  TestNetns ns;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());
  Reply r = udp_exchange(ns.path(), make_query("2.0.0.10.in-addr.arpa.", LDNS_RR_TYPE_PTR, 11));
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
  ldns_rr* ptr = ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0);
  EXPECT_EQ(ldns_rr_get_type(ptr), LDNS_RR_TYPE_PTR);
  char* target = ldns_rdf2str(ldns_rr_rdf(ptr, 0));
  EXPECT_STREQ(target, "web.mynet.");
  std::free(target);
}

TEST_F(DnsServerTest, ForwardsUnknownNamesAndRelaysWithTheClientsId) {
  TestNetns ns;
  FakeUpstream upstream;
  DnsServer server(backend(), {upstream.address()});
  server.add("c1", ns.path());
  // Unknown names and addresses, and a known name asked for a type the
  // engine does not answer (the fake upstream answers anything with an A).
  for (auto [name, type] : {std::pair{"example.test.", LDNS_RR_TYPE_A}, std::pair{"web.", LDNS_RR_TYPE_MX},
                            std::pair{"9.9.9.10.in-addr.arpa.", LDNS_RR_TYPE_PTR}}) {
    Reply r = udp_exchange(ns.path(), make_query(name, type, 0xbeef));
    ASSERT_EQ(r.err, 0) << name;
    Pkt p = parse(r.wire);
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_id(p.get()), 0xbeef);
    ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
    ldns_rr* a = ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0);
    EXPECT_EQ(a_of(a), kUpstreamUdp);
    EXPECT_EQ(ldns_rr_ttl(a), 42u);  // the upstream's answer, unchanged
  }
  EXPECT_EQ(upstream.udp_queries(), 3);
}

TEST_F(DnsServerTest, ForwardsTcpQueriesOverTcp) {
  TestNetns ns;
  FakeUpstream upstream;
  DnsServer server(backend(), {upstream.address()});
  server.add("c1", ns.path());
  Reply r = tcp_exchange(ns.path(), make_query("example.test.", LDNS_RR_TYPE_A, 0x1234));
  ASSERT_EQ(r.err, 0) << strerror_text(r.err);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_id(p.get()), 0x1234);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
  EXPECT_EQ(a_of(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0)), kUpstreamTcp);
  EXPECT_EQ(upstream.tcp_queries(), 1);
  EXPECT_EQ(upstream.udp_queries(), 0);
}

TEST_F(DnsServerTest, RelaysTruncatedAnswersAsTheyAre) {
  TestNetns ns;
  FakeUpstream upstream;
  DnsServer server(backend(), {upstream.address()});
  server.add("c1", ns.path());
  Reply r = udp_exchange(ns.path(), make_query("tc.test.", LDNS_RR_TYPE_A, 5));
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_TRUE(ldns_pkt_tc(p.get()));
  EXPECT_EQ(ldns_pkt_id(p.get()), 5);
}

TEST_F(DnsServerTest, ServfailWhenTheUpstreamTimesOut) {
  TestNetns ns;
  FakeUpstream silent(/*silent=*/true);
  DnsServer server(backend(), {silent.address()}, 300ms);
  server.add("c1", ns.path());
  auto start = Clock::now();
  Reply r = udp_exchange(ns.path(), make_query("example.test.", LDNS_RR_TYPE_A, 77), 5000);
  auto elapsed = Clock::now() - start;
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_SERVFAIL);
  EXPECT_EQ(ldns_pkt_id(p.get()), 77);
  EXPECT_EQ(ldns_pkt_qdcount(p.get()), 1);  // stub resolvers match the question
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(silent.udp_queries(), 1);
}

TEST_F(DnsServerTest, ServfailAtOnceWhenUpstreamsRefuseOrNoneIsSet) {
  TestNetns ns;
  DnsServer server(backend(), {closed_port_address()});
  server.add("c1", ns.path());
  auto start = Clock::now();
  Reply r = udp_exchange(ns.path(), make_query("example.test.", LDNS_RR_TYPE_A, 1));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(ldns_pkt_get_rcode(parse(r.wire).get()), LDNS_RCODE_SERVFAIL);
  EXPECT_LT(Clock::now() - start, 2s);  // an ICMP refusal, not the 5 s timeout

  server.set_upstreams({});
  r = udp_exchange(ns.path(), make_query("example.test.", LDNS_RR_TYPE_A, 2));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(ldns_pkt_get_rcode(parse(r.wire).get()), LDNS_RCODE_SERVFAIL);
  r = tcp_exchange(ns.path(), make_query("example.test.", LDNS_RR_TYPE_A, 3));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(ldns_pkt_get_rcode(parse(r.wire).get()), LDNS_RCODE_SERVFAIL);
}

TEST_F(DnsServerTest, TriesTheNextUpstreamOnFailure) {
  TestNetns ns;
  FakeUpstream silent(/*silent=*/true), good;
  DnsServer server(backend(), {closed_port_address(), silent.address(), good.address()}, 300ms);
  server.add("c1", ns.path());
  auto start = Clock::now();
  Reply r = udp_exchange(ns.path(), make_query("example.test.", LDNS_RR_TYPE_A, 8));
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
  EXPECT_EQ(a_of(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0)), kUpstreamUdp);
  EXPECT_GE(Clock::now() - start, 300ms);  // waited out the silent one
  EXPECT_EQ(silent.udp_queries(), 1);

  // REFUSED moves on too (docker's rule); with no one left it is SERVFAIL.
  server.set_upstreams({good.address()});
  r = udp_exchange(ns.path(), make_query("refused.test.", LDNS_RR_TYPE_A, 9));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(ldns_pkt_get_rcode(parse(r.wire).get()), LDNS_RCODE_SERVFAIL);
}

TEST_F(DnsServerTest, EachClientGetsItsOwnKey) {
  TestNetns ns1, ns2;
  DnsServer server(backend(), {});
  server.add("c1", ns1.path());
  server.add("c2", ns2.path());
  Reply r1 = udp_exchange(ns1.path(), make_query("web.", LDNS_RR_TYPE_A, 1));
  Reply r2 = udp_exchange(ns2.path(), make_query("web.", LDNS_RR_TYPE_A, 2));
  ASSERT_EQ(r1.err, 0);
  ASSERT_EQ(r2.err, 0);
  EXPECT_EQ(a_of(ldns_rr_list_rr(ldns_pkt_answer(parse(r1.wire).get()), 0)), kWeb1);
  EXPECT_EQ(a_of(ldns_rr_list_rr(ldns_pkt_answer(parse(r2.wire).get()), 0)), kWeb2);
  auto calls = lookups();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].first, "c1");
  EXPECT_EQ(calls[1].first, "c2");
}

TEST_F(DnsServerTest, AddingTheSameClientAgainIsANoop) {
  TestNetns ns;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());
  server.add("c1", ns.path());  // would fail to bind a second time were it not a no-op
  Reply r = udp_exchange(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 1));
  ASSERT_EQ(r.err, 0);
}

TEST_F(DnsServerTest, RemoveClosesTheSockets) {
  TestNetns ns, other;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());
  server.add("c2", other.path());
  ASSERT_EQ(udp_exchange(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 1)).err, 0);

  server.remove("c1");
  Reply udp = udp_exchange(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 2), 500);
  EXPECT_TRUE(udp.err == ECONNREFUSED || udp.err == ETIMEDOUT) << strerror_text(udp.err);
  EXPECT_TRUE(udp.wire.empty());
  EXPECT_EQ(tcp_exchange(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 3)).err, ECONNREFUSED);
  // The other client is untouched, and c1 can come back (the address is free).
  EXPECT_EQ(udp_exchange(other.path(), make_query("web.", LDNS_RR_TYPE_A, 4)).err, 0);
  server.add("c1", ns.path());
  EXPECT_EQ(udp_exchange(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 5)).err, 0);
}

TEST_F(DnsServerTest, MalformedPacketsGetFormerrOrAreDroppedAndServingGoesOn) {
  TestNetns ns;
  FakeUpstream upstream;
  DnsServer server(backend(), {upstream.address()});
  server.add("c1", ns.path());
  in_netns(ns.path(), [&] {
    UniqueFd fd = udp_client();
    // Too short for a header: dropped.
    EXPECT_EQ(udp_exchange_here(fd.get(), std::string("\x12\x34\x01", 3), 300).err, ETIMEDOUT);
    // A header promising a question that is not there: FORMERR with its id.
    std::string header("\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
    Reply r = udp_exchange_here(fd.get(), header, 2000);
    ASSERT_EQ(r.err, 0);
    Pkt p = parse(r.wire);
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_id(p.get()), 0xabcd);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_FORMERR);
    // A name running past the end, and a compression pointer looping on itself.
    r = udp_exchange_here(fd.get(), header + std::string("\x3fshort", 6), 2000);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(ldns_pkt_get_rcode(parse(r.wire).get()), LDNS_RCODE_FORMERR);
    r = udp_exchange_here(fd.get(), header + std::string("\xc0\x0c\x00\x01\x00\x01", 6), 2000);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(ldns_pkt_get_rcode(parse(r.wire).get()), LDNS_RCODE_FORMERR);
    // No question at all: FORMERR.
    std::string empty("\x00\x07\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 12);
    r = udp_exchange_here(fd.get(), empty, 2000);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(ldns_pkt_get_rcode(parse(r.wire).get()), LDNS_RCODE_FORMERR);
    // A response sent to the server: dropped (no reply loops).
    std::string response = make_query("web.", LDNS_RR_TYPE_A, 3);
    response[2] = char(response[2] | 0x80);
    EXPECT_EQ(udp_exchange_here(fd.get(), response, 300).err, ETIMEDOUT);
    // Garbage of every length must not hurt either.
    std::string junk;
    for (int i = 0; i < 300; ++i) {
      junk.push_back(char(i * 37 + 11));
      [[maybe_unused]] ssize_t n = ::send(fd.get(), junk.data(), junk.size(), 0);
    }
  });
  EXPECT_EQ(upstream.udp_queries(), 0);  // no FORMERR candidate was forwarded

  // Over TCP: a zero-length frame closes that connection only.
  in_netns(ns.path(), [&] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&kDnsAddr), sizeof kDnsAddr), 0);
    ASSERT_EQ(::write(fd.get(), "\0\0", 2), 2);
    char c;
    EXPECT_FALSE(read_full(fd.get(), &c, 1, 2000));
  });

  // Afterwards a good query is answered.
  Reply r = udp_exchange_retrying(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 99));
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_id(p.get()), 99);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 1);
}

TEST_F(DnsServerTest, AnswersPipelinedTcpQueriesOnOneConnection) {
  TestNetns ns;
  FakeUpstream upstream;
  DnsServer server(backend(), {upstream.address()});
  server.add("c1", ns.path());
  in_netns(ns.path(), [&] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&kDnsAddr), sizeof kDnsAddr), 0);
    std::string both;
    for (auto [name, id] : {std::pair{"example.test.", 1}, std::pair{"web.", 2}}) {
      std::string q = make_query(name, LDNS_RR_TYPE_A, uint16_t(id));
      both += std::string{char(q.size() >> 8), char(q.size() & 0xff)} + q;
    }
    ASSERT_EQ(::write(fd.get(), both.data(), both.size()), ssize_t(both.size()));
    std::map<uint16_t, uint32_t> answers;  // id -> address; the local answer may come first
    for (int i = 0; i < 2; ++i) {
      char len[2];
      ASSERT_TRUE(read_full(fd.get(), len, 2, 3000));
      std::string body(size_t(uint8_t(len[0])) << 8 | uint8_t(len[1]), '\0');
      ASSERT_TRUE(read_full(fd.get(), body.data(), body.size(), 3000));
      Pkt p = parse(body);
      ASSERT_TRUE(p);
      ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
      answers[ldns_pkt_id(p.get())] = a_of(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0));
    }
    EXPECT_EQ(answers, (std::map<uint16_t, uint32_t>{{1, kUpstreamTcp}, {2, kWeb1}}));
  });
}

TEST_F(DnsServerTest, CapsTheTcpConnectionsOfOneClient) {
  TestNetns ns;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());
  in_netns(ns.path(), [&] {
    std::vector<UniqueFd> held;
    auto connect_one = [&] {
      UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&kDnsAddr), sizeof kDnsAddr), 0);
      return fd;
    };
    for (int i = 0; i < 32; ++i) held.push_back(connect_one());
    // One more is accepted and closed at once: the server reads nothing from it.
    UniqueFd extra = connect_one();
    char c;
    pollfd p{extra.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    EXPECT_EQ(::read(extra.get(), &c, 1), 0);
    // Closing one makes room again.
    held.pop_back();
    std::this_thread::sleep_for(100ms);
    UniqueFd again = connect_one();
    std::string q = make_query("web.", LDNS_RR_TYPE_A, 5);
    std::string framed = std::string{char(q.size() >> 8), char(q.size() & 0xff)} + q;
    ASSERT_EQ(::write(again.get(), framed.data(), framed.size()), ssize_t(framed.size()));
    char len[2];
    EXPECT_TRUE(read_full(again.get(), len, 2, 2000));
  });
}

// The engine may call remove() holding the lock its lookup waits for: remove
// must not wait for the serving thread.
TEST_F(DnsServerTest, RemoveDoesNotWaitForALookupInProgress) {
  TestNetns ns;
  std::mutex engine_lock;
  std::atomic<bool> in_lookup{false};
  DnsBackend b;
  b.lookup = [&](const std::string&, const std::string&) -> std::vector<uint32_t> {
    in_lookup = true;
    std::lock_guard lock(engine_lock);
    return {kWeb1};
  };
  DnsServer server(b, {});
  server.add("c1", ns.path());
  Reply r;
  {
    std::unique_lock lock(engine_lock);
    std::thread client([&] { r = udp_exchange(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 1), 1000); });
    while (!in_lookup) std::this_thread::sleep_for(1ms);
    auto start = Clock::now();
    server.remove("c1");  // would deadlock if it waited for the lookup
    EXPECT_LT(Clock::now() - start, 1s);
    lock.unlock();
    client.join();
  }
  EXPECT_EQ(r.err, ETIMEDOUT);  // its socket closed while it was being answered
}

TEST_F(DnsServerTest, SurvivesMutatedQueries) {
  TestNetns ns;
  FakeUpstream upstream;
  DnsServer server(backend(), {upstream.address()}, 200ms);
  server.add("c1", ns.path());
  std::mt19937 rng(12345);  // fixed: a failure replays
  std::string base = make_query("web.mynet.", LDNS_RR_TYPE_A, 1);
  in_netns(ns.path(), [&] {
    UniqueFd fd = udp_client();
    for (int i = 0; i < 3000; ++i) {
      std::string q = base;
      for (int flips = 1 + int(rng() % 4); flips > 0; --flips) q[rng() % q.size()] = char(rng());
      if (rng() % 4 == 0) q.resize(rng() % q.size());
      [[maybe_unused]] ssize_t n = ::send(fd.get(), q.data(), q.size(), 0);
    }
  });
  Reply r = udp_exchange_retrying(ns.path(), make_query("web.", LDNS_RR_TYPE_A, 99));
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 1);
}

TEST_F(DnsServerTest, AnswersTheFirstOfSeveralQuestions) {
  TestNetns ns;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());
  Pkt q(ldns_pkt_query_new(ldns_dname_new_frm_str("web."), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD));
  ldns_rr* second = ldns_rr_new();
  ldns_rr_set_owner(second, ldns_dname_new_frm_str("db."));
  ldns_rr_set_type(second, LDNS_RR_TYPE_A);
  ldns_rr_set_question(second, true);
  ldns_pkt_push_rr(q.get(), LDNS_SECTION_QUESTION, second);
  ldns_pkt_set_id(q.get(), 31);
  Reply r = udp_exchange(ns.path(), to_wire(q.get()));
  ASSERT_EQ(r.err, 0);
  Pkt p = parse(r.wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_qdcount(p.get()), 1);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
  EXPECT_EQ(a_of(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0)), kWeb1);
}

TEST_F(DnsServerTest, AddFailsWithContextForAMissingNamespace) {
  DnsServer server(backend(), {});
  try {
    server.add("c9", "/run/netns/berth-dns-no-such-namespace");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dns listener for c9"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
  }
}

TEST(DnsServerUpstreams, RejectsWhatIsNotAnAddress) {
  DnsBackend none;
  EXPECT_THROW(DnsServer(none, {"dns.example"}), Error);
  EXPECT_THROW(DnsServer(none, {"1.2.3.4:0"}), Error);
  DnsServer ok(none, {"1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:53"});
  EXPECT_THROW(ok.set_upstreams({"1.2.3.4:x"}), Error);
}

// Informational: the round trip of a query the server answers itself.
TEST_F(DnsServerTest, CachedNameRoundTripTime) {
  TestNetns ns;
  DnsServer server(backend(), {});
  server.add("c1", ns.path());
  std::vector<double> micros;
  in_netns(ns.path(), [&] {
    UniqueFd fd = udp_client();
    for (int i = 0; i < 300; ++i) {
      std::string q = make_query("web.", LDNS_RR_TYPE_A, uint16_t(i));
      auto start = Clock::now();
      Reply r = udp_exchange_here(fd.get(), q, 2000);
      auto end = Clock::now();
      ASSERT_EQ(r.err, 0);
      micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    }
  });
  std::sort(micros.begin(), micros.end());
  double median = micros[micros.size() / 2];
  std::cout << "[ info     ] cached-name UDP round trip: median " << median << " us, p90 "
            << micros[micros.size() * 9 / 10] << " us over " << micros.size() << " queries\n";
  RecordProperty("median_us", int(median));
  EXPECT_LT(median, 50'000);  // far below any resolver timeout
}

TEST(ResolvConf, NameserversAreTheIpv4Ones) {
  std::string text =
      "# Generated\n"
      "search example.com\n"
      "nameserver 192.168.1.1\n"
      "  nameserver\t10.0.0.53   # the office\n"
      "nameserver ::1\n"
      "nameserver fe80::1%eth0\n"
      "; nameserver 9.9.9.9\n"
      "#nameserver 8.8.8.8\n"
      "nameserver\n"
      "nameservers 1.1.1.1\n"
      "nameserver 300.1.1.1\n"
      "options ndots:2\n"
      "nameserver 127.0.0.53";  // no newline at the end
  EXPECT_EQ(resolv_conf_nameservers(text), (std::vector<std::string>{"192.168.1.1", "10.0.0.53", "127.0.0.53"}));
}

TEST(ResolvConf, EmptyTextHasNoNameservers) {
  EXPECT_TRUE(resolv_conf_nameservers("").empty());
  EXPECT_TRUE(resolv_conf_nameservers("search local\n").empty());
}

}  // namespace
}  // namespace berth::network
