#include "network/netlink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/test_util.h"
#include "network/netns.h"

namespace berth::network {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

bool has_flag(const json& link, const std::string& flag) {
  const auto& flags = link.at("flags");
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

// Everything happens in namespaces the test creates: "host" stands in for
// the daemon's namespace (bridges, host ends), one more per container.
class NetlinkTest : public ::testing::Test {
 protected:
  NetlinkTest() {
    create_netns(host_ns_);
    host_.emplace(Netlink::in_netns(host_ns_));
  }
  void TearDown() override {
    host_.reset();
    for (const auto& ns : containers_) remove_netns(ns);
    remove_netns(host_ns_);
  }

  std::string container(const std::string& name) {
    std::string ns = dir_ / name;
    create_netns(ns);
    containers_.push_back(ns);
    return ns;
  }

  EndpointConfig endpoint(const std::string& ns, const std::string& host_ifname, int host_part) {
    EndpointConfig cfg;
    cfg.bridge = bridge_.name;
    cfg.host_ifname = host_ifname;
    cfg.netns_path = ns;
    cfg.ifname = "eth0";
    cfg.address_cidr = fmt::format("192.0.2.{}/24", host_part);
    cfg.gateway = "192.0.2.1";
    cfg.mac = fmt::format("02:42:c0:00:02:{:02x}", host_part);
    cfg.mtu = 1450;
    return cfg;
  }

  // `ip -j <args>` run inside ns, as an independent view of the kernel's state.
  static json ip(const std::string& ns, std::vector<std::string> args) {
    args.insert(args.begin(), {"ip", "-j"});
    std::string out;
    run_in_netns(ns, [&] { out = run_capture(args); });
    return json::parse(out);
  }

  test::TempDir dir_;
  std::string host_ns_ = dir_ / "host";
  std::optional<Netlink> host_;
  std::vector<std::string> containers_;
  BridgeConfig bridge_{"br-test", "192.0.2.1/24", 1450};
};

TEST_F(NetlinkTest, EnsureBridgeCreatesItUpWithMtuAndGateway) {
  host_->ensure_bridge(bridge_);
  json link = ip(host_ns_, {"-d", "addr", "show", "dev", "br-test"}).at(0);
  EXPECT_EQ(link.at("linkinfo").at("info_kind"), "bridge");
  EXPECT_EQ(link.at("mtu"), 1450);
  EXPECT_TRUE(has_flag(link, "UP")) << link;
  json inet = json::array();
  for (const auto& a : link.at("addr_info"))
    if (a.at("family") == "inet") inet.push_back(a);
  ASSERT_EQ(inet.size(), 1u) << link;
  EXPECT_EQ(inet.at(0).at("local"), "192.0.2.1");
  EXPECT_EQ(inet.at(0).at("prefixlen"), 24);
  EXPECT_EQ(inet.at(0).at("broadcast"), "192.0.2.255");
}

TEST_F(NetlinkTest, EnsureBridgeIsIdempotentAndKeepsWhatIsThere) {
  host_->ensure_bridge(bridge_);
  json first = ip(host_ns_, {"link", "show", "br-test"}).at(0);
  run_in_netns(host_ns_, [] { run_capture({"ip", "addr", "add", "198.51.100.1/24", "dev", "br-test"}); });
  run_in_netns(host_ns_, [] { run_capture({"ip", "link", "set", "br-test", "down"}); });

  host_->ensure_bridge(bridge_);
  host_->ensure_bridge(bridge_);
  json link = ip(host_ns_, {"addr", "show", "dev", "br-test"}).at(0);
  std::vector<std::string> locals;
  for (const auto& a : link.at("addr_info"))
    if (a.at("family") == "inet") locals.push_back(a.at("local"));
  EXPECT_THAT(locals, ::testing::UnorderedElementsAre("192.0.2.1", "198.51.100.1"));
  EXPECT_TRUE(has_flag(link, "UP")) << link;
  EXPECT_EQ(link.at("address"), first.at("address"));  // same bridge, not a new one
}

TEST_F(NetlinkTest, EnsureBridgeSetsTheMtuOfAnExistingOne) {
  host_->ensure_bridge(bridge_);
  host_->ensure_bridge({"br-test", "192.0.2.1/24", 1400});
  EXPECT_EQ(ip(host_ns_, {"link", "show", "br-test"}).at(0).at("mtu"), 1400);
}

TEST_F(NetlinkTest, EnsureBridgeWithoutGatewayAddsNoAddress) {
  host_->ensure_bridge({"br-internal", "", 1500});
  json link = ip(host_ns_, {"addr", "show", "dev", "br-internal"}).at(0);
  EXPECT_TRUE(link.at("addr_info").empty()) << link;
}

TEST_F(NetlinkTest, EnsureBridgeRefusesALinkOfAnotherKind) {
  std::string err = test::error_of([&] { host_->ensure_bridge({"lo", "", 1500}); });
  EXPECT_THAT(err, HasSubstr("ensure bridge lo"));
  EXPECT_THAT(err, HasSubstr("not a bridge"));
}

TEST_F(NetlinkTest, EnsureBridgeRejectsABadGateway) {
  EXPECT_THAT(test::error_of([&] { host_->ensure_bridge({"br-test", "192.0.2.1", 1500}); }),
              HasSubstr("invalid address 192.0.2.1"));
  EXPECT_FALSE(host_->link_exists("br-test"));
}

TEST_F(NetlinkTest, AddEndpointConfiguresTheContainerEnd) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  host_->add_endpoint(endpoint(c1, "vethaaaaaa1", 2));

  json eth0 = ip(c1, {"addr", "show", "dev", "eth0"}).at(0);
  EXPECT_EQ(eth0.at("address"), "02:42:c0:00:02:02");
  EXPECT_EQ(eth0.at("mtu"), 1450);
  EXPECT_TRUE(has_flag(eth0, "UP")) << eth0;
  EXPECT_TRUE(has_flag(eth0, "LOWER_UP")) << eth0;  // carrier: the host end is up too
  json inet = json::array();
  for (const auto& a : eth0.at("addr_info"))
    if (a.at("family") == "inet") inet.push_back(a);
  ASSERT_EQ(inet.size(), 1u) << eth0;
  EXPECT_EQ(inet.at(0).at("local"), "192.0.2.2");
  EXPECT_EQ(inet.at(0).at("prefixlen"), 24);

  json routes = ip(c1, {"route", "show"});
  json dflt;
  for (const auto& r : routes)
    if (r.at("dst") == "default") dflt = r;
  ASSERT_FALSE(dflt.is_null()) << routes;
  EXPECT_EQ(dflt.at("gateway"), "192.0.2.1");
  EXPECT_EQ(dflt.at("dev"), "eth0");
}

TEST_F(NetlinkTest, AddEndpointEnslavesTheHostEndWithHairpin) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  host_->add_endpoint(endpoint(c1, "vethaaaaaa1", 2));

  json veth = ip(host_ns_, {"-d", "link", "show", "vethaaaaaa1"}).at(0);
  EXPECT_EQ(veth.at("master"), "br-test");
  EXPECT_EQ(veth.at("mtu"), 1450);
  EXPECT_TRUE(has_flag(veth, "UP")) << veth;
  EXPECT_EQ(veth.at("linkinfo").at("info_kind"), "veth");
  EXPECT_EQ(veth.at("linkinfo").at("info_slave_kind"), "bridge");
  EXPECT_EQ(veth.at("linkinfo").at("info_slave_data").at("hairpin"), true) << veth;
  EXPECT_FALSE(host_->link_exists("eth0"));  // the peer was born in the container
}

TEST_F(NetlinkTest, EndpointsWithoutGatewayGetNoDefaultRoute) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  EndpointConfig cfg = endpoint(c1, "vethaaaaaa1", 2);
  cfg.gateway = "";
  cfg.mac = "";  // the kernel picks one
  host_->add_endpoint(cfg);
  for (const auto& r : ip(c1, {"route", "show"})) EXPECT_NE(r.at("dst"), "default") << r;
  EXPECT_TRUE(Netlink::in_netns(c1).link_exists("eth0"));
}

TEST_F(NetlinkTest, TwoEndpointsOnOneBridgeTalkTcp) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  std::string c2 = container("c2");
  host_->add_endpoint(endpoint(c1, "vethaaaaaa1", 2));
  host_->add_endpoint(endpoint(c2, "vethaaaaaa2", 3));

  // A socket belongs to the namespace it is created in, so the listener is
  // made inside c2 and the connecting socket inside c1.
  UniqueFd listener;
  run_in_netns(c2, [&] {
    listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_port = htons(5000);
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) fail_errno("bind");
    if (::listen(listener.get(), 1) != 0) fail_errno("listen");
  });
  run_in_netns(c1, [&] {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval timeout{5, 0};  // bounds connect too: a broken bridge fails, not hangs
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in c2_addr{};
    c2_addr.sin_family = AF_INET;
    c2_addr.sin_port = htons(5000);
    ::inet_pton(AF_INET, "192.0.2.3", &c2_addr.sin_addr);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&c2_addr), sizeof c2_addr) != 0) fail_errno("connect");
    write_all_fd(s.get(), "hello", "socket");
  });
  sockaddr_in from{};
  socklen_t len = sizeof from;
  UniqueFd conn(::accept4(listener.get(), reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid());
  char peer[INET_ADDRSTRLEN];
  EXPECT_STREQ(::inet_ntop(AF_INET, &from.sin_addr, peer, sizeof peer), "192.0.2.2");
  EXPECT_EQ(read_fd(conn.get(), "connection"), "hello");
}

TEST_F(NetlinkTest, DeleteLinkRemovesBothEnds) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  host_->add_endpoint(endpoint(c1, "vethaaaaaa1", 2));
  Netlink inside = Netlink::in_netns(c1);
  ASSERT_TRUE(host_->link_exists("vethaaaaaa1"));
  ASSERT_TRUE(inside.link_exists("eth0"));

  host_->delete_link("vethaaaaaa1");
  EXPECT_FALSE(host_->link_exists("vethaaaaaa1"));
  EXPECT_FALSE(inside.link_exists("eth0"));
  host_->delete_link("vethaaaaaa1");  // missing: not an error
}

TEST_F(NetlinkTest, AddEndpointToAMissingBridgeFailsNamingIt) {
  std::string c1 = container("c1");
  EndpointConfig cfg = endpoint(c1, "vethaaaaaa1", 2);
  cfg.bridge = "br-missing";
  std::string err = test::error_of([&] { host_->add_endpoint(cfg); });
  EXPECT_THAT(err, HasSubstr("add endpoint vethaaaaaa1"));
  EXPECT_THAT(err, HasSubstr("bridge br-missing not found"));
  EXPECT_FALSE(host_->link_exists("vethaaaaaa1"));
}

TEST_F(NetlinkTest, AFailureAfterCreationLeavesNoVethBehind) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  EndpointConfig cfg = endpoint(c1, "vethaaaaaa1", 2);
  cfg.gateway = "203.0.113.1";  // not on the link: the kernel refuses the route
  std::string err = test::error_of([&] { host_->add_endpoint(cfg); });
  EXPECT_THAT(err, HasSubstr("add endpoint vethaaaaaa1 (eth0 in " + c1 + ")"));
  EXPECT_THAT(err, HasSubstr("add default route via 203.0.113.1 dev eth0"));
  EXPECT_FALSE(host_->link_exists("vethaaaaaa1"));
  EXPECT_FALSE(Netlink::in_netns(c1).link_exists("eth0"));
}

TEST_F(NetlinkTest, ATakenContainerIfnameFailsWithTheKernelsReason) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  host_->add_endpoint(endpoint(c1, "vethaaaaaa1", 2));
  std::string err = test::error_of([&] { host_->add_endpoint(endpoint(c1, "vethaaaaaa2", 3)); });
  EXPECT_THAT(err, HasSubstr("create veth vethaaaaaa2 (peer eth0) on br-test: file exists"));
  EXPECT_FALSE(host_->link_exists("vethaaaaaa2"));
  EXPECT_TRUE(host_->link_exists("vethaaaaaa1"));
}

TEST_F(NetlinkTest, BadEndpointConfigFailsBeforeAnythingIsCreated) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  EndpointConfig cfg = endpoint(c1, "vethaaaaaa1", 2);
  cfg.mac = "02:42:zz:00:00:02";
  EXPECT_THAT(test::error_of([&] { host_->add_endpoint(cfg); }), HasSubstr("invalid MAC address 02:42:zz:00:00:02"));
  cfg = endpoint(c1, "vethaaaaaa1", 2);
  cfg.address_cidr = "192.0.2.2/33";
  EXPECT_THAT(test::error_of([&] { host_->add_endpoint(cfg); }), HasSubstr("invalid address 192.0.2.2/33"));
  cfg = endpoint(c1, "vethaaaaaa1-too-long", 2);  // libnl alone would cut it to 15 characters
  EXPECT_THAT(test::error_of([&] { host_->add_endpoint(cfg); }),
              HasSubstr("invalid interface name \"vethaaaaaa1-too-long\""));
  cfg = endpoint(dir_ / "no-such-ns", "vethaaaaaa1", 2);
  EXPECT_THAT(test::error_of([&] { host_->add_endpoint(cfg); }), HasSubstr("open netns " + dir_ / "no-such-ns"));
  EXPECT_FALSE(host_->link_exists("vethaaaaaa1"));
  EXPECT_FALSE(host_->link_exists("vethaaaaaa1-too"));
}

TEST_F(NetlinkTest, ListsRoutesAndAddressesOfItsNamespace) {
  host_->ensure_bridge(bridge_);
  std::string c1 = container("c1");
  host_->add_endpoint(endpoint(c1, "vethaaaaaa1", 2));
  Netlink inside = Netlink::in_netns(c1);

  EXPECT_THAT(inside.ipv4_addresses(), ::testing::UnorderedElementsAre("127.0.0.1/8", "192.0.2.2/24"));
  std::vector<RouteInfo> routes = inside.ipv4_routes();
  EXPECT_EQ(routes.size(), 2u);
  EXPECT_THAT(routes, Contains(AllOf(Field(&RouteInfo::destination_cidr, "0.0.0.0/0"),
                                     Field(&RouteInfo::ifname, "eth0"))));
  EXPECT_THAT(routes, Contains(AllOf(Field(&RouteInfo::destination_cidr, "192.0.2.0/24"),
                                     Field(&RouteInfo::ifname, "eth0"))));
  // The local table's routes (127.0.0.0/8 on lo, broadcast ones) are not listed.
  EXPECT_THAT(routes, Not(Contains(Field(&RouteInfo::ifname, "lo"))));

  EXPECT_THAT(host_->ipv4_addresses(), Contains("192.0.2.1/24"));
  EXPECT_THAT(host_->ipv4_routes(), Contains(AllOf(Field(&RouteInfo::destination_cidr, "192.0.2.0/24"),
                                                   Field(&RouteInfo::ifname, "br-test"))));
}

TEST_F(NetlinkTest, LinkExists) {
  EXPECT_TRUE(host_->link_exists("lo"));
  EXPECT_FALSE(host_->link_exists("nope0"));
}

TEST_F(NetlinkTest, InNetnsOfAMissingPathFailsNamingIt) {
  std::string path = dir_ / "nope";
  EXPECT_THAT(test::error_of([&] { Netlink::in_netns(path); }), HasSubstr("open netns " + path));
}

TEST_F(NetlinkTest, WriteSysctlWritesTheNamespacesValue) {
  std::string outside_before = read_file("/proc/sys/net/ipv4/ip_forward");
  std::string inside;
  run_in_netns(host_ns_, [&] {
    write_sysctl("net/ipv4/ip_forward", "1");
    inside = read_file("/proc/sys/net/ipv4/ip_forward");
  });
  EXPECT_EQ(inside, "1\n");
  EXPECT_EQ(read_file("/proc/sys/net/ipv4/ip_forward"), outside_before);
}

TEST_F(NetlinkTest, WriteSysctlOfAnUnknownKeyFailsNamingThePath) {
  EXPECT_THAT(test::error_of([] { write_sysctl("net/ipv4/no_such_knob", "1"); }),
              HasSubstr("/proc/sys/net/ipv4/no_such_knob"));
}

}  // namespace
}  // namespace berth::network
