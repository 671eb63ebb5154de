#include "cli/network_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::cli {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CsvFields, QuotedFieldsAndErrorsLikeGoCsv) {
  EXPECT_THAT(csv_fields("a,b,,c"), ElementsAre("a", "b", "", "c"));
  EXPECT_THAT(csv_fields(R"("a,b",c)"), ElementsAre("a,b", "c"));
  EXPECT_THAT(csv_fields(R"("say ""hi""")"), ElementsAre("say \"hi\""));
  EXPECT_THAT(csv_fields("x,"), ElementsAre("x", ""));
  EXPECT_TRUE(csv_fields("").empty());
  EXPECT_EQ(error_of([] { csv_fields(R"(name="a,b")"); }),
            "parse error on line 1, column 6: bare \" in non-quoted-field");
  EXPECT_EQ(error_of([] { csv_fields(R"("a"b)"); }),
            "parse error on line 1, column 3: extraneous or missing \" in quoted-field");
}

TEST(NetworkFlag, ShortAndAdvancedSyntax) {
  EXPECT_EQ(parse_network_flag("my-net").target, "my-net");
  EXPECT_EQ(parse_network_flag("container:abc").target, "container:abc");
  // Without \w=\w anywhere the value is a plain name, as docker's regexp decides.
  EXPECT_EQ(parse_network_flag("name= n ,alias= a ").target, "name= n ,alias= a ");

  NetworkAttachment a = parse_network_flag(
      "name=na,alias=x1,alias=x2,ip=10.0.0.2,ip6=fd00::2,mac-address=02:42:ac:11:00:02,"
      "link-local-ip=169.254.0.2,driver-opt=k=v=w,gw-priority=-3");
  EXPECT_EQ(a.target, "na");
  EXPECT_THAT(a.aliases, ElementsAre("x1", "x2"));
  EXPECT_EQ(a.ipv4, "10.0.0.2");
  EXPECT_EQ(a.ipv6, "fd00::2");
  EXPECT_EQ(a.mac_address, "02:42:ac:11:00:02");
  EXPECT_THAT(a.link_local_ips, ElementsAre("169.254.0.2"));
  EXPECT_EQ(a.driver_opts.at("k"), "v=w");
  EXPECT_EQ(a.gw_priority, -3);
}

TEST(NetworkFlag, DockerErrors) {
  EXPECT_EQ(error_of([] { parse_network_flag("alias=x"); }), "network name/id is not specified");
  EXPECT_EQ(error_of([] { parse_network_flag("name=na,foo=bar"); }), "invalid field key foo");
  EXPECT_EQ(error_of([] { parse_network_flag("name=na,foo"); }), "invalid field foo");
  EXPECT_EQ(error_of([] { parse_network_flag("name=na,=x"); }), "invalid field =x");
  EXPECT_EQ(error_of([] { parse_network_flag("name=na,driver-opt=foo"); }),
            "invalid key value pair format in driver options");
  EXPECT_EQ(error_of([] { parse_network_flag("name=na,gw-priority=x"); }), "invalid gw-priority (x): invalid syntax");
}

TEST(NetworkingConfig, NoNetworkMeansDefaultWithAnEndpoint) {
  Networking n = networking_config({}, {});
  EXPECT_EQ(n.network_mode, "default");
  ASSERT_TRUE(n.endpoints.contains("default"));
  EXPECT_TRUE(n.endpoints["default"]["IPAMConfig"].is_null());
  EXPECT_TRUE(n.endpoints["default"]["Aliases"].is_null());
  EXPECT_EQ(n.endpoints["default"]["MacAddress"], "");
}

TEST(NetworkingConfig, LoneNetworkWithoutOptionsHasNoEndpoint) {
  Networking n = networking_config({parse_network_flag("host")}, {});
  EXPECT_EQ(n.network_mode, "host");
  EXPECT_EQ(n.endpoints, json::object());
}

TEST(NetworkingConfig, ContainerFlagsLandOnTheFirstNetwork) {
  LegacyEndpointFlags legacy;
  legacy.aliases = {"a1"};
  legacy.links = {"c1:x"};
  legacy.ipv4 = "10.0.0.9";
  legacy.ipv6 = "fd00::9";
  legacy.mac_address = "02:42:ac:11:00:99";
  legacy.link_local_ips = {"169.254.1.1"};
  Networking n = networking_config({parse_network_flag("na"), parse_network_flag("nb")}, legacy);
  EXPECT_EQ(n.network_mode, "na");
  const json& na = n.endpoints["na"];
  EXPECT_EQ(na["IPAMConfig"],
            json({{"IPv4Address", "10.0.0.9"}, {"IPv6Address", "fd00::9"}, {"LinkLocalIPs", {"169.254.1.1"}}}));
  EXPECT_EQ(na["Aliases"], json({"a1"}));
  EXPECT_EQ(na["Links"], json({"c1:x"}));
  EXPECT_EQ(na["MacAddress"], "02:42:ac:11:00:99");
  // The second network gets an endpoint of its own, without the flags.
  EXPECT_TRUE(n.endpoints["nb"]["Aliases"].is_null());
  EXPECT_TRUE(n.endpoints["nb"]["IPAMConfig"].is_null());
}

TEST(NetworkingConfig, LinksOnTheDefaultBridgeStayLegacy) {
  LegacyEndpointFlags legacy;
  legacy.links = {"a:b"};
  EXPECT_EQ(networking_config({parse_network_flag("bridge")}, legacy).endpoints, json::object());
}

TEST(NetworkingConfig, Conflicts) {
  LegacyEndpointFlags alias;
  alias.aliases = {"y"};
  EXPECT_EQ(error_of([&] { networking_config({parse_network_flag("name=na,alias=x")}, alias); }),
            "conflicting options: cannot specify both --network-alias and per-network alias");
  EXPECT_EQ(error_of([&] { networking_config({}, alias); }),
            "network-scoped aliases are only supported for user-defined networks");
  EXPECT_EQ(error_of([] { networking_config({parse_network_flag("na"), parse_network_flag("host")}, {}); }),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes");
  EXPECT_EQ(error_of([] { networking_config({parse_network_flag("na"), parse_network_flag("na")}, {}); }),
            "network \"na\" is specified multiple times");
  EXPECT_EQ(error_of([] { networking_config({parse_network_flag("name=na,mac-address=zz")}, {}); }),
            "zz is not a valid mac address");
  EXPECT_EQ(error_of([] { networking_config({parse_network_flag("")}, {}); }), "no name set for network");
}

json published(std::initializer_list<std::string> specs, json* exposed_out = nullptr) {
  json exposed = json::object(), bindings = json::object();
  for (const std::string& s : specs) add_published_port(s, exposed, bindings);
  if (exposed_out) *exposed_out = exposed;
  return bindings;
}

TEST(PublishedPorts, HostIpRangesAndProtocols) {
  json exposed;
  json b = published({"80", "127.0.0.1:8080:80/udp", "8000-8001:9000-9001", "[::1]:53:53/UDP", "1.2.3.4::99",
                      "5000-5010:6000", "published=81,target=82", "target=83,protocol=sctp"},
                     &exposed);
  EXPECT_EQ(b["80/tcp"], json::parse(R"([{"HostIp":"","HostPort":""}])"));
  EXPECT_EQ(b["80/udp"], json::parse(R"([{"HostIp":"127.0.0.1","HostPort":"8080"}])"));
  EXPECT_EQ(b["9000/tcp"], json::parse(R"([{"HostIp":"","HostPort":"8000"}])"));
  EXPECT_EQ(b["9001/tcp"], json::parse(R"([{"HostIp":"","HostPort":"8001"}])"));
  EXPECT_EQ(b["53/udp"], json::parse(R"([{"HostIp":"::1","HostPort":"53"}])"));
  EXPECT_EQ(b["99/tcp"], json::parse(R"([{"HostIp":"1.2.3.4","HostPort":""}])"));
  EXPECT_EQ(b["6000/tcp"], json::parse(R"([{"HostIp":"","HostPort":"5000-5010"}])"));
  EXPECT_EQ(b["82/tcp"], json::parse(R"([{"HostIp":"","HostPort":"81"}])"));
  EXPECT_EQ(b["83/sctp"], json::parse(R"([{"HostIp":"","HostPort":""}])"));
  EXPECT_EQ(exposed.size(), b.size());
}

TEST(PublishedPorts, DockerErrors) {
  EXPECT_EQ(error_of([] { published({"80/xyz"}); }), "invalid proto: xyz");
  EXPECT_EQ(error_of([] { published({""}); }), "no port specified: <empty>");
  EXPECT_EQ(error_of([] { published({"/udp"}); }), "no port specified: /udp<empty>");
  EXPECT_EQ(error_of([] { published({"foo/xyz"}); }), "invalid containerPort: foo");
  EXPECT_EQ(error_of([] { published({"70000"}); }), "invalid containerPort: 70000");
  EXPECT_EQ(error_of([] { published({"x:80"}); }), "invalid hostPort: x");
  EXPECT_EQ(error_of([] { published({"8000-8001:80-82"}); }),
            "invalid ranges specified for container and host Ports: 80-82 and 8000-8001");
  EXPECT_EQ(error_of([] { published({"300.1.1.1:80:80"}); }), "invalid IP address: 300.1.1.1");
  EXPECT_EQ(error_of([] { published({"[::1:80:80"}); }),
            "invalid IP address [::1: address [::1:: missing ']' in address");
  EXPECT_EQ(error_of([] { published({"target=80,foo"}); }),
            "invalid publish opts format (should be name=value but got 'foo')");
}

TEST(ExposedPorts, RangesAndErrors) {
  json exposed = json::object();
  add_exposed_port("7000-7002/udp", exposed);
  add_exposed_port("80", exposed);
  EXPECT_EQ(exposed, json::parse(R"({"7000/udp":{},"7001/udp":{},"7002/udp":{},"80/tcp":{}})"));
  EXPECT_EQ(error_of([&] { add_exposed_port("1:2", exposed); }), "invalid port format for --expose: 1:2");
  EXPECT_EQ(error_of([&] { add_exposed_port("foo", exposed); }),
            "invalid range format for --expose: foo, error: strconv.ParseUint: parsing \"foo\": invalid syntax");
  EXPECT_EQ(error_of([&] { add_exposed_port("80-79", exposed); }),
            "invalid range format for --expose: 80-79, error: invalid range specified for port: 80-79");
}

TEST(Validators, MacLabelsAndHosts) {
  EXPECT_TRUE(valid_mac("02:42:ac:11:00:02"));
  EXPECT_TRUE(valid_mac("02-42-AC-11-00-02"));
  EXPECT_TRUE(valid_mac("0242.ac11.0002"));
  EXPECT_FALSE(valid_mac("02:42:ac:11:00"));
  EXPECT_FALSE(valid_mac("02:42-ac:11:00:02"));
  EXPECT_EQ(label_error("k=v w"), "");
  EXPECT_EQ(label_error("a b"), "label 'a b' contains whitespaces");
  EXPECT_EQ(label_error("=="), "invalid label '==': empty name");
  EXPECT_EQ(kv_map({"a=b=c", "d"}), json({{"a", "b=c"}, {"d", ""}}));
  EXPECT_EQ(validate_ip_address(" 0:0::1 "), "::1");
  EXPECT_EQ(error_of([] { validate_ip_address("foo"); }), "IP address is not correctly formatted: foo");
  EXPECT_EQ(validate_extra_host("b=::1"), "b:::1");
  EXPECT_EQ(validate_extra_host("c=[::2]"), "c:::2");
  EXPECT_EQ(validate_extra_host("h:host-gateway"), "h:host-gateway");
  EXPECT_EQ(error_of([] { validate_extra_host("bad"); }), "bad format for add-host: \"bad\"");
  EXPECT_EQ(validate_dns_search("example.com."), "example.com");
  EXPECT_EQ(error_of([] { validate_dns_search("1.2.3"); }), "1.2.3 is not a valid domain");
}

TEST(IpamConfigs, ConsolidatesPerSubnet) {
  IpamFlags f;
  f.subnets = {"10.1.0.0/16", "fd00:1::/64"};
  f.ranges = {"10.1.2.7/24"};  // sent as typed
  f.gateways = {"10.1.0.1"};
  f.aux = {{"a", "10.1.0.5"}, {"b", "fd00:1::5"}};
  EXPECT_EQ(ipam_configs(f), json::parse(R"([
    {"Subnet":"10.1.0.0/16","IPRange":"10.1.2.7/24","Gateway":"10.1.0.1","AuxiliaryAddresses":{"a":"10.1.0.5"}},
    {"Subnet":"fd00:1::/64","AuxiliaryAddresses":{"b":"fd00:1::5"}}])"));
  EXPECT_EQ(ipam_configs({}), json::array());
}

TEST(IpamConfigs, DockerErrors) {
  auto err = [](IpamFlags f) { return error_of([&] { ipam_configs(f); }); };
  EXPECT_EQ(err({{}, {"10.1.0.0/24"}, {}, {}}), "every ip-range or gateway must have a corresponding subnet");
  EXPECT_EQ(err({{"10.1.0.0/16"}, {}, {"10.2.0.1"}, {}}), "no matching subnet for gateway 10.2.0.1");
  EXPECT_EQ(err({{"10.1.0.0/16", "10.1.1.0/24"}, {}, {}, {}}),
            "multiple overlapping subnet configuration is not supported");
  EXPECT_EQ(err({{"foo", "bar"}, {}, {}, {}}), "invalid subnet: invalid CIDR address: bar");
  EXPECT_EQ(err({{"10.9.0.0/16"}, {"10.9.0.0"}, {}, {}}), "invalid CIDR address: 10.9.0.0");
  EXPECT_EQ(err({{"10.9.0.0/16"}, {"10.8.0.0/24"}, {}, {}}), "no matching subnet for range 10.8.0.0/24");
  EXPECT_EQ(err({{"10.1.0.0/16", "10.2.0.0/16"}, {"10.1.0.0/24", "10.1.1.0/24"}, {}, {}}),
            "cannot configure multiple ranges (10.1.1.0/24, 10.1.0.0/24) on the same subnet (10.1.0.0/16)");
  EXPECT_EQ(err({{"10.1.0.0/16", "10.2.0.0/16"}, {}, {"10.1.0.1", "10.1.0.2"}, {}}),
            "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/16)");
  EXPECT_EQ(err({{"10.1.0.0/16"}, {}, {}, {{"a", "10.5.0.1"}}}), "no matching subnet for aux-address 10.5.0.1");
  // A single malformed subnet is left for the daemon to reject, as docker does.
  EXPECT_EQ(ipam_configs({{"foo"}, {}, {}, {}}), json::parse(R"([{"Subnet":"foo"}])"));
}

}  // namespace
}  // namespace berth::cli
