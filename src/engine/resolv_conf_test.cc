#include "engine/resolv_conf.h"

#include <gtest/gtest.h>

namespace berth::engine {
namespace {

using nlohmann::json;

const char* kHost = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n";

TEST(ResolvConf, DefaultBridgeDropsLoopbackNameservers) {
  EXPECT_EQ(container_resolv_conf(json::object(), kHost, {}, false, false),
            "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n");
}

TEST(ResolvConf, OnlyLoopbackFallsBackToGooglesServers) {
  EXPECT_EQ(container_resolv_conf(json::object(), "nameserver 127.0.0.1\n", {}, false, false),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
}

TEST(ResolvConf, EmbeddedDnsPointsAt127_0_0_11WithNdots0) {
  EXPECT_EQ(container_resolv_conf(json::object(), kHost, {}, true, false),
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 ndots:0\n");
}

TEST(ResolvConf, UserNdotsWinsOverEmbeddedDefault) {
  json hc = {{"DnsOptions", {"ndots:2"}}};
  EXPECT_EQ(container_resolv_conf(hc, kHost, {}, true, false), "nameserver 127.0.0.11\nsearch corp.example\noptions ndots:2\n");
}

TEST(ResolvConf, UserDnsSearchAndOptionsOverride) {
  json hc = {{"Dns", {"1.1.1.1"}}, {"DnsSearch", {"a.example", "b.example"}}, {"DnsOptions", {"rotate"}}};
  EXPECT_EQ(container_resolv_conf(hc, kHost, {}, false, false),
            "nameserver 1.1.1.1\nsearch a.example b.example\noptions rotate\n");
}

TEST(ResolvConf, DaemonDnsIsTheDefaultAndTheContainersWins) {
  EXPECT_EQ(container_resolv_conf(json::object(), kHost, {"9.9.9.9"}, false, false),
            "nameserver 9.9.9.9\nsearch corp.example\noptions edns0\n");
  json hc = {{"Dns", {"1.1.1.1"}}};
  EXPECT_EQ(container_resolv_conf(hc, kHost, {"9.9.9.9"}, false, false),
            "nameserver 1.1.1.1\nsearch corp.example\noptions edns0\n");
}

TEST(ResolvConf, DotSearchClearsSearchDomains) {
  json hc = {{"DnsSearch", {"."}}};
  EXPECT_EQ(container_resolv_conf(hc, kHost, {}, false, false), "nameserver 10.0.0.2\noptions edns0\n");
}

TEST(ResolvConf, HostNetworkKeepsLoopbackNameservers) {
  EXPECT_EQ(container_resolv_conf(json::object(), kHost, {}, false, true),
            "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n");
}

}  // namespace
}  // namespace berth::engine
