#include "network/ipam.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/test_util.h"

namespace berth::network {
namespace {

using test::error_of;

uint32_t ip(const std::string& s) {
  auto a = parse_ipv4(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(0);
}

TEST(Ipv4Address, ParsesDottedQuadsOnly) {
  struct Case {
    std::string in;
    std::optional<uint32_t> want;
  };
  const Case cases[] = {
      {"0.0.0.0", 0},
      {"172.18.0.1", 0xac120001},
      {"255.255.255.255", 0xffffffff},
      {"10.0.0.10", 0x0a00000a},
      {"", std::nullopt},
      {"1.2.3", std::nullopt},
      {"1.2.3.4.5", std::nullopt},
      {"1.2.3.", std::nullopt},
      {".1.2.3", std::nullopt},
      {"256.0.0.1", std::nullopt},
      {"1.2.3.4 ", std::nullopt},
      {"-1.2.3.4", std::nullopt},
      {"+1.2.3.4", std::nullopt},
      {"01.2.3.4", std::nullopt},  // octal or decimal? refused, as Go refuses it
      {"1.2.3.0x4", std::nullopt},
      {"1.2.3.1000", std::nullopt},
      {"::1", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_ipv4(c.in), c.want) << "'" << c.in << "'";
}

TEST(Ipv4Address, FormatsAndRoundTrips) {
  EXPECT_EQ(ipv4_string(0), "0.0.0.0");
  EXPECT_EQ(ipv4_string(0xac120001), "172.18.0.1");
  EXPECT_EQ(ipv4_string(0xffffffff), "255.255.255.255");
  for (std::string s : {"1.2.3.4", "192.168.240.255", "10.0.0.0"}) EXPECT_EQ(ipv4_string(ip(s)), s);
}

TEST(Ipv4Net, ParseKeepsHostBitsAndComputesTheNetwork) {
  struct Case {
    std::string in;
    uint32_t addr, network, broadcast, mask;
    int prefix;
  };
  const Case cases[] = {
      {"172.18.0.0/16", 0xac120000, 0xac120000, 0xac12ffff, 0xffff0000, 16},
      {"172.18.0.5/16", 0xac120005, 0xac120000, 0xac12ffff, 0xffff0000, 16},
      {"192.168.16.0/20", 0xc0a81000, 0xc0a81000, 0xc0a81fff, 0xfffff000, 20},
      {"10.1.2.3/32", 0x0a010203, 0x0a010203, 0x0a010203, 0xffffffff, 32},
      {"10.1.2.3/0", 0x0a010203, 0, 0xffffffff, 0, 0},
      {"10.1.2.3/31", 0x0a010203, 0x0a010202, 0x0a010203, 0xfffffffe, 31},
  };
  for (const auto& c : cases) {
    Ipv4Net n = Ipv4Net::parse(c.in);
    EXPECT_EQ(n.addr, c.addr) << c.in;
    EXPECT_EQ(n.prefix, c.prefix) << c.in;
    EXPECT_EQ(n.mask(), c.mask) << c.in;
    EXPECT_EQ(n.network(), c.network) << c.in;
    EXPECT_EQ(n.broadcast(), c.broadcast) << c.in;
    EXPECT_EQ(n.str(), c.in) << "str() keeps the address as given";
  }
}

TEST(Ipv4Net, ParseRefusesMalformedInputWithDockersWording) {
  for (std::string bad : {"", "172.18.0.0", "172.18.0.0/", "172.18.0.0/33", "172.18.0.0/-1", "172.18.0.0/+8",
                          "172.18.0.0/08", "172.18.0.0/16/1", "172.18.0/16", "/16", "172.18.0.0/1a",
                          "172.18.0.0/100", "x/16"}) {
    EXPECT_EQ(error_of([&] { Ipv4Net::parse(bad); }), "invalid CIDR address: " + bad);
  }
}

TEST(Ipv4Net, ParseStrictRefusesHostBits) {
  EXPECT_EQ(Ipv4Net::parse_strict("172.18.0.0/16").str(), "172.18.0.0/16");
  EXPECT_EQ(Ipv4Net::parse_strict("10.1.2.3/32").str(), "10.1.2.3/32");
  EXPECT_EQ(Ipv4Net::parse_strict("0.0.0.0/0").str(), "0.0.0.0/0");
  EXPECT_EQ(error_of([] { Ipv4Net::parse_strict("172.18.0.5/16"); }),
            "invalid subnet 172.18.0.5/16: it should be 172.18.0.0/16");
  EXPECT_EQ(error_of([] { Ipv4Net::parse_strict("nonsense"); }), "invalid CIDR address: nonsense");
}

TEST(Ipv4Net, ContainsAndOverlaps) {
  Ipv4Net n = Ipv4Net::parse("172.18.0.0/16");
  EXPECT_TRUE(n.contains(ip("172.18.0.0")));
  EXPECT_TRUE(n.contains(ip("172.18.255.255")));
  EXPECT_FALSE(n.contains(ip("172.19.0.0")));
  EXPECT_FALSE(n.contains(ip("172.17.255.255")));

  struct Case {
    std::string a, b;
    bool overlap;
  };
  const Case cases[] = {
      {"172.18.0.0/16", "172.18.5.0/24", true},   // b inside a
      {"172.18.5.0/24", "172.18.0.0/16", true},   // a inside b
      {"172.18.0.0/16", "172.18.0.0/16", true},   // equal
      {"172.18.0.0/16", "172.19.0.0/16", false},  // neighbours
      {"172.16.0.0/12", "172.31.1.0/24", true},
      {"192.168.0.0/20", "192.168.16.0/20", false},
      {"0.0.0.0/0", "10.0.0.0/8", true},          // a default route overlaps everything
      {"172.18.0.7/16", "172.18.200.1/24", true},  // host bits do not matter
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Ipv4Net::parse(c.a).overlaps(Ipv4Net::parse(c.b)), c.overlap) << c.a << " vs " << c.b;
  }
}

std::vector<Ipv4Net> nets(const std::vector<std::string>& cidrs) {
  std::vector<Ipv4Net> out;
  for (const auto& c : cidrs) out.push_back(Ipv4Net::parse(c));
  return out;
}

TEST(IpamPickSubnet, TakesDockersDefaultPoolsInOrder) {
  struct Case {
    std::vector<std::string> in_use;
    std::string want;
  };
  const Case cases[] = {
      {{}, "172.17.0.0/16"},
      {{"172.17.0.0/16"}, "172.18.0.0/16"},  // the default bridge holds 172.17
      {{"172.17.0.1/16", "172.18.0.0/16"}, "172.19.0.0/16"},
      {{"172.17.0.0/16", "172.19.0.0/16"}, "172.18.0.0/16"},  // a hole is reused
      {{"172.18.3.0/24"}, "172.17.0.0/16"},                    // a smaller overlap elsewhere
      {{"172.17.0.0/16", "172.18.3.0/24"}, "172.19.0.0/16"},   // ...or in the candidate
      {{"172.16.0.0/12"}, "192.168.0.0/20"},                  // all 172 pools overlap a /12
      {{"172.16.0.0/12", "192.168.0.0/24"}, "192.168.16.0/20"},
      {{"172.16.0.0/12", "192.168.0.0/17"}, "192.168.128.0/20"},
      {{"10.0.0.0/8", "172.17.0.0/16"}, "172.18.0.0/16"},  // unrelated routes do not matter
  };
  for (const auto& c : cases) {
    auto got = pick_subnet(nets(c.in_use));
    ASSERT_TRUE(got) << c.want;
    EXPECT_EQ(got->str(), c.want);
  }
}

TEST(IpamPickSubnet, ReturnsNulloptWhenEveryPoolIsTaken) {
  EXPECT_FALSE(pick_subnet(nets({"172.16.0.0/12", "192.168.0.0/16"})));
  EXPECT_FALSE(pick_subnet(nets({"0.0.0.0/0"})));
  auto last = pick_subnet(nets({"172.16.0.0/12", "192.168.0.0/17", "192.168.128.0/18", "192.168.192.0/19",
                                "192.168.224.0/20"}));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->str(), "192.168.240.0/20");
}

TEST(IpamMac, IsDockers0242PrefixAndTheAddress) {
  EXPECT_EQ(mac_for_ipv4(ip("172.17.0.2")), "02:42:ac:11:00:02");
  EXPECT_EQ(mac_for_ipv4(ip("192.168.240.255")), "02:42:c0:a8:f0:ff");
  EXPECT_EQ(mac_for_ipv4(0), "02:42:00:00:00:00");
}

std::vector<std::string> allocate_n(AddressAllocator& a, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(ipv4_string(a.allocate()));
  return out;
}

using Strings = std::vector<std::string>;

TEST(AddressAllocator, HandsOutTheLowestFreeAddressSkippingNetworkAndGateway) {
  AddressAllocator a(Ipv4Net::parse("172.18.0.0/16"), ip("172.18.0.1"));
  EXPECT_EQ(allocate_n(a, 3), (Strings{"172.18.0.2", "172.18.0.3", "172.18.0.4"}));
  a.release(ip("172.18.0.3"));
  EXPECT_FALSE(a.in_use(ip("172.18.0.3")));
  EXPECT_EQ(ipv4_string(a.allocate()), "172.18.0.3");  // the hole first
  EXPECT_EQ(ipv4_string(a.allocate()), "172.18.0.5");
}

TEST(AddressAllocator, GatewayAnywhereInTheSubnetIsSkipped) {
  AddressAllocator a(Ipv4Net::parse("10.9.0.0/29"), ip("10.9.0.3"));
  EXPECT_EQ(allocate_n(a, 5), (Strings{"10.9.0.1", "10.9.0.2", "10.9.0.4", "10.9.0.5", "10.9.0.6"}));
}

TEST(AddressAllocator, NoGatewayMeansOnlyNetworkAndBroadcastAreSkipped) {
  AddressAllocator a(Ipv4Net::parse("10.9.0.0/30"), 0);
  EXPECT_EQ(allocate_n(a, 2), (Strings{"10.9.0.1", "10.9.0.2"}));
  EXPECT_EQ(error_of([&] { a.allocate(); }),
            "no available IPv4 addresses on this network's address pools: 10.9.0.0/30");
}

TEST(AddressAllocator, ExhaustsSmallSubnetsAndNeverHandsOutBroadcast) {
  // /29: 8 addresses, minus network, broadcast and gateway = 5.
  AddressAllocator a(Ipv4Net::parse("192.168.5.0/29"), ip("192.168.5.1"));
  EXPECT_EQ(allocate_n(a, 5),
            (Strings{"192.168.5.2", "192.168.5.3", "192.168.5.4", "192.168.5.5", "192.168.5.6"}));
  EXPECT_EQ(error_of([&] { a.allocate(); }),
            "no available IPv4 addresses on this network's address pools: 192.168.5.0/29");
  EXPECT_FALSE(a.in_use(ip("192.168.5.7")));
  a.release(ip("192.168.5.4"));
  EXPECT_EQ(ipv4_string(a.allocate()), "192.168.5.4");
}

TEST(AddressAllocator, PointToPointSubnetsUseEveryAddress) {
  AddressAllocator p2p(Ipv4Net::parse("10.0.0.0/31"), 0);
  EXPECT_EQ(allocate_n(p2p, 2), (Strings{"10.0.0.0", "10.0.0.1"}));
  AddressAllocator host(Ipv4Net::parse("10.0.0.7/32"), 0);
  EXPECT_EQ(allocate_n(host, 1), (Strings{"10.0.0.7"}));
  EXPECT_THROW(host.allocate(), Error);
}

TEST(AddressAllocator, HostBitsInTheSubnetDoNotShiftAllocation) {
  AddressAllocator a(Ipv4Net::parse("172.20.0.9/24"), ip("172.20.0.1"));
  EXPECT_EQ(ipv4_string(a.allocate()), "172.20.0.2");
}

TEST(AddressAllocator, IpRangeLimitsDynamicAllocation) {
  struct Case {
    std::string subnet, gateway, range;
    Strings want;  // then exhausted
  };
  const Case cases[] = {
      {"172.20.0.0/16", "172.20.0.1", "172.20.5.0/30", {"172.20.5.0", "172.20.5.1", "172.20.5.2", "172.20.5.3"}},
      // the subnet's network address is excluded even when the range starts there
      {"172.20.0.0/16", "172.20.0.1", "172.20.0.0/30", {"172.20.0.2", "172.20.0.3"}},
      // ...and its broadcast address when the range ends there
      {"172.20.0.0/24", "", "172.20.0.252/30", {"172.20.0.252", "172.20.0.253", "172.20.0.254"}},
      {"172.20.0.0/16", "172.20.5.1", "172.20.5.0/31", {"172.20.5.0"}},
  };
  for (const auto& c : cases) {
    AddressAllocator a(Ipv4Net::parse(c.subnet), c.gateway.empty() ? 0 : ip(c.gateway), Ipv4Net::parse(c.range));
    EXPECT_EQ(allocate_n(a, static_cast<int>(c.want.size())), c.want) << c.range;
    EXPECT_THROW(a.allocate(), Error) << c.range;
  }
}

TEST(AddressAllocator, IpRangeOutsideTheSubnetIsRefused) {
  EXPECT_EQ(error_of([] { AddressAllocator(Ipv4Net::parse("172.20.0.0/16"), 0, Ipv4Net::parse("172.21.0.0/24")); }),
            "invalid ip-range 172.21.0.0/24: it must be inside subnet 172.20.0.0/16");
  EXPECT_THROW(AddressAllocator(Ipv4Net::parse("172.20.0.0/16"), 0, Ipv4Net::parse("172.0.0.0/8")), Error);
}

TEST(AddressAllocator, ReserveTakesASpecificAddress) {
  AddressAllocator a(Ipv4Net::parse("172.18.0.0/16"), ip("172.18.0.1"), Ipv4Net::parse("172.18.1.0/24"));
  a.reserve(ip("172.18.1.0"));
  a.reserve(ip("172.18.7.7"));  // outside ip-range but inside the subnet: allowed, as in docker
  EXPECT_TRUE(a.in_use(ip("172.18.1.0")));
  EXPECT_TRUE(a.in_use(ip("172.18.7.7")));
  EXPECT_EQ(ipv4_string(a.allocate()), "172.18.1.1");  // the reserved one is skipped
}

TEST(AddressAllocator, ReserveRefusesTakenAndForeignAddressesWithDockersWording) {
  AddressAllocator a(Ipv4Net::parse("172.18.0.0/16"), ip("172.18.0.1"));
  uint32_t first = a.allocate();
  struct Case {
    uint32_t addr;
    std::string want;
  };
  const Case cases[] = {
      {first, "Address already in use"},
      {ip("172.18.0.1"), "Address already in use"},      // gateway
      {ip("172.18.0.0"), "Address already in use"},      // network
      {ip("172.18.255.255"), "Address already in use"},  // broadcast
      {ip("172.19.0.2"), "no configured subnet or ip-range contain the IP address 172.19.0.2"},
      {ip("10.0.0.1"), "no configured subnet or ip-range contain the IP address 10.0.0.1"},
  };
  for (const auto& c : cases) EXPECT_EQ(error_of([&] { a.reserve(c.addr); }), c.want) << ipv4_string(c.addr);
  a.release(first);
  a.reserve(first);  // free again
  EXPECT_TRUE(a.in_use(first));
}

TEST(AddressAllocator, ReleasingUnknownAddressesIsIgnored) {
  AddressAllocator a(Ipv4Net::parse("172.18.0.0/16"), ip("172.18.0.1"));
  a.release(ip("172.18.0.9"));
  a.release(ip("8.8.8.8"));
  EXPECT_EQ(ipv4_string(a.allocate()), "172.18.0.2");
}

TEST(AddressAllocator, JsonRoundTripKeepsEveryAllocation) {
  AddressAllocator a(Ipv4Net::parse("172.18.0.0/16"), ip("172.18.0.1"), Ipv4Net::parse("172.18.4.0/22"));
  a.allocate();
  a.allocate();
  a.reserve(ip("172.18.9.9"));
  a.release(ip("172.18.4.0"));
  nlohmann::json j = a.to_json();
  EXPECT_EQ(j["subnet"], "172.18.0.0/16");
  EXPECT_EQ(j["gateway"], "172.18.0.1");
  EXPECT_EQ(j["ip_range"], "172.18.4.0/22");
  EXPECT_EQ(j["allocated"], nlohmann::json::parse(R"(["172.18.4.1", "172.18.9.9"])"));

  // Through text, as the network's state file stores it.
  AddressAllocator b = AddressAllocator::from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(b.to_json(), j);
  EXPECT_TRUE(b.in_use(ip("172.18.4.1")));
  EXPECT_TRUE(b.in_use(ip("172.18.9.9")));
  EXPECT_EQ(ipv4_string(b.allocate()), "172.18.4.0");
  EXPECT_EQ(ipv4_string(b.allocate()), "172.18.4.2");
  EXPECT_EQ(error_of([&] { b.reserve(ip("172.18.9.9")); }), "Address already in use");
}

TEST(AddressAllocator, JsonWithoutGatewayOrRange) {
  AddressAllocator a(Ipv4Net::parse("10.5.0.0/24"), 0);
  a.allocate();
  nlohmann::json j = a.to_json();
  EXPECT_EQ(j["gateway"], "");
  EXPECT_EQ(j["ip_range"], "");
  AddressAllocator b = AddressAllocator::from_json(j);
  EXPECT_EQ(ipv4_string(b.allocate()), "10.5.0.2");

  AddressAllocator minimal = AddressAllocator::from_json(nlohmann::json{{"subnet", "10.6.0.0/24"}});
  EXPECT_EQ(ipv4_string(minimal.allocate()), "10.6.0.1");
}

TEST(AddressAllocator, MalformedJsonIsAnErrorNamingTheState) {
  const char* bad[] = {
      R"({})",
      R"({"subnet": 5})",
      R"({"subnet": "10.0.0.0/33"})",
      R"({"subnet": "10.0.0.0/24", "gateway": "10.0.0.x"})",
      R"({"subnet": "10.0.0.0/24", "allocated": ["10.0.0.2", 7]})",
      R"({"subnet": "10.0.0.0/24", "allocated": ["10.0.0.256"]})",
      R"({"subnet": "10.0.0.0/24", "ip_range": "10.1.0.0/24"})",
  };
  for (const char* j : bad) {
    std::string err = error_of([&] { AddressAllocator::from_json(nlohmann::json::parse(j)); });
    EXPECT_EQ(err.rfind("invalid IPAM state: ", 0), 0u) << j << " -> " << err;
  }
}

}  // namespace
}  // namespace berth::network
