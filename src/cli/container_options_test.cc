// The create body's networking and volume parts, checked against what docker
// 28 sends for the same flags (recorded from its requests).
#include "cli/container_options.h"

#include <unistd.h>

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

using json = nlohmann::json;

json body(std::vector<std::string> args) {
  FlagSet f;
  f.stop_at_first_positional();
  add_container_flags(f);
  args.push_back("img");
  auto pos = f.parse(args);
  return container_config(f, pos, [](const std::string&) { return std::nullopt; });
}

std::string usage_error(std::vector<std::string> args) {
  try {
    body(std::move(args));
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no usage error)";
}

TEST(ContainerNetworking, DefaultNetworkAndDockersZeroFields) {
  json c = body({});
  EXPECT_EQ(c["HostConfig"]["NetworkMode"], "default");
  EXPECT_TRUE(c["NetworkingConfig"]["EndpointsConfig"].contains("default"));
  EXPECT_TRUE(c["HostConfig"]["Links"].is_null());
  EXPECT_TRUE(c["Env"].is_null());
  EXPECT_EQ(c["Volumes"], json::object());
  EXPECT_EQ(c["HostConfig"]["MemorySwappiness"], -1);
  EXPECT_EQ(c["HostConfig"]["ConsoleSize"], json({0, 0}));
  EXPECT_FALSE(c.contains("MacAddress"));
}

TEST(ContainerNetworking, SeveralNetworksAndEndpointFlags) {
  json c = body({"--network", "na", "--network", "name=nb,alias=b1,driver-opt=k=v", "--network-alias", "a1",
                 "--ip", "10.0.0.9", "--ip6", "fd00::9", "--link-local-ip", "169.254.1.1", "--mac-address",
                 "02:42:ac:11:00:99", "--link", "c1:x"});
  const json& hc = c["HostConfig"];
  EXPECT_EQ(hc["NetworkMode"], "na");
  EXPECT_EQ(hc["Links"], json({"c1:x"}));
  // berth's v1.41 daemons read the MAC address from the container-wide field.
  EXPECT_EQ(c["MacAddress"], "02:42:ac:11:00:99");
  const json& eps = c["NetworkingConfig"]["EndpointsConfig"];
  EXPECT_EQ(eps["na"]["Aliases"], json({"a1"}));
  EXPECT_EQ(eps["na"]["Links"], json({"c1:x"}));
  EXPECT_EQ(eps["na"]["MacAddress"], "02:42:ac:11:00:99");
  EXPECT_EQ(eps["na"]["IPAMConfig"],
            json({{"IPv4Address", "10.0.0.9"}, {"IPv6Address", "fd00::9"}, {"LinkLocalIPs", {"169.254.1.1"}}}));
  EXPECT_EQ(eps["nb"]["Aliases"], json({"b1"}));
  EXPECT_EQ(eps["nb"]["DriverOpts"], json({{"k", "v"}}));
  EXPECT_TRUE(eps["nb"]["IPAMConfig"].is_null());
}

TEST(ContainerNetworking, FlagErrorsAreUsageErrors) {
  EXPECT_EQ(usage_error({"--network", "name=na,foo=bar"}),
            "invalid argument \"name=na,foo=bar\" for \"--network\" flag: invalid field key foo");
  EXPECT_EQ(usage_error({"--link", "a:b:c"}), "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c");
  EXPECT_EQ(usage_error({"--dns", "foo"}),
            "invalid argument \"foo\" for \"--dns\" flag: IP address is not correctly formatted: foo");
  EXPECT_EQ(usage_error({"--add-host", "bad"}),
            "invalid argument \"bad\" for \"--add-host\" flag: bad format for add-host: \"bad\"");
  EXPECT_EQ(usage_error({"--mount", "type=volume"}), "invalid argument \"type=volume\" for \"--mount\" flag: target is required");
}

TEST(ContainerNetworking, DnsAndHostsAsDockerSendsThem) {
  json hc = body({"--dns", "0:0::1", "--add-host", "b=::1", "--dns-search", "example.com."})["HostConfig"];
  EXPECT_EQ(hc["Dns"], json({"::1"}));
  EXPECT_EQ(hc["ExtraHosts"], json({"b:::1"}));
  EXPECT_EQ(hc["DnsSearch"], json({"example.com"}));
}

TEST(ContainerVolumes, BindsNamedAndAnonymous) {
  json c = body({"-v", "/a:/b:ro", "-v", "/anon", "-v", "named:/data", "-v", "v:/d", "-v", "/a:/b:ro"});
  EXPECT_EQ(c["HostConfig"]["Binds"], json({"/a:/b:ro", "named:/data"}));
  // "v:" reads as a Windows drive letter, so docker sends "v:/d" as a volume path.
  EXPECT_EQ(c["Volumes"], json({{"/anon", json::object()}, {"v:/d", json::object()}}));
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  EXPECT_EQ(body({"-v", "./rel:/r"})["HostConfig"]["Binds"], json({std::string(cwd) + "/rel:/r"}));
  EXPECT_THROW(body({"-v", ":/b"}), Error);
  EXPECT_THROW(body({"-v", "/a:/b:ro:x"}), Error);
}

TEST(ContainerVolumes, MountsAsDockerSerialisesThem) {
  json m = body({"--mount", "type=volume,src=v,dst=/d,volume-nocopy,volume-driver=local,volume-opt=a=b,"
                            "volume-label=x=y",
                 "--mount", "TYPE=bind,src=/a,dst=/b,bind-propagation=RSLAVE,ro=false",
                 "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777"})["HostConfig"]["Mounts"];
  EXPECT_EQ(m[0], json::parse(R"({"Type":"volume","Source":"v","Target":"/d","VolumeOptions":{"NoCopy":true,
    "Labels":{"x":"y"},"DriverConfig":{"Name":"local","Options":{"a":"b"}}}})"));
  EXPECT_EQ(m[1], json::parse(R"({"Type":"bind","Source":"/a","Target":"/b","BindOptions":{"Propagation":"rslave"}})"));
  EXPECT_EQ(m[2], json::parse(R"({"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023}})"));
  EXPECT_EQ(usage_error({"--mount", "type=tmpfs,dst=/t,bind-propagation=rslave"}),
            "invalid argument \"type=tmpfs,dst=/t,bind-propagation=rslave\" for \"--mount\" flag: cannot mix "
            "'bind-*' options with mount type 'tmpfs'");
}

}  // namespace
}  // namespace berth::cli
