#include "cli/network_volume_rows.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

using json = nlohmann::json;

TEST(NetworkRow, DockerFields) {
  json n = json::parse(R"({"Name":"n1","Id":"81d2d5468666fa53b71c17c85076ce643e4e61fe63edc9bef5e5b92c1c5445c0",
    "Created":"2026-11-27T09:17:31.13812982Z","Scope":"local","Driver":"bridge","EnableIPv6":true,
    "Internal":true,"Labels":{"k2":"","k":"v"}})");
  json r = network_row(n, true);
  EXPECT_EQ(r["ID"], "81d2d5468666");
  EXPECT_EQ(r["Name"], "n1");
  EXPECT_EQ(r["IPv4"], "false");  // a v1.41 daemon sends no EnableIPv4
  EXPECT_EQ(r["IPv6"], "true");
  EXPECT_EQ(r["Internal"], "true");
  EXPECT_EQ(r["Labels"], "k=v,k2=");
  EXPECT_EQ(r["CreatedAt"], "2026-11-27 09:17:31.13812982 +0000 UTC");
  EXPECT_EQ(network_row(n, false)["ID"], n["Id"]);
}

TEST(VolumeRow, NotAvailableWithoutUsageOrCluster) {
  json r = volume_row(json::parse(R"({"Name":"v","Driver":"local","Scope":"local","Mountpoint":"/m",
    "Labels":null})"));
  EXPECT_EQ(r["Labels"], "");
  EXPECT_EQ(r["Links"], "N/A");
  EXPECT_EQ(r["Size"], "N/A");
  EXPECT_EQ(r["Group"], "N/A");
  EXPECT_EQ(r["Status"], "N/A");
  json used = volume_row(json::parse(R"({"Name":"v","UsageData":{"RefCount":2,"Size":2048}})"));
  EXPECT_EQ(used["Links"], "2");
  EXPECT_EQ(used["Size"], "2.048kB");
}

TEST(NaturalLess, NumbersCompareAsNumbers) {
  std::vector<std::string> names = {"n10", "n9", "bridge", "n01", "host", "n1", "a"};
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) { return natural_less(a, b); });
  EXPECT_EQ(names, (std::vector<std::string>{"a", "bridge", "host", "n1", "n01", "n9", "n10"}));
  EXPECT_TRUE(natural_less("1x", "x"));  // digits before other characters
  EXPECT_TRUE(natural_less("ab", "abc"));
  EXPECT_FALSE(natural_less("abc", "abc"));
}

TEST(GoTimeText, LikeGoTimeString) {
  EXPECT_EQ(go_time_text("2024-05-01T10:00:00.500Z"), "2024-05-01 10:00:00.5 +0000 UTC");
  EXPECT_EQ(go_time_text("2024-05-01T10:00:00Z"), "2024-05-01 10:00:00 +0000 UTC");
  EXPECT_EQ(go_time_text("2024-05-01T10:00:00.25+02:00"), "2024-05-01 10:00:00.25 +0200 +0200");
  EXPECT_EQ(go_time_text(""), "0001-01-01 00:00:00 +0000 UTC");
}

}  // namespace
}  // namespace berth::cli
