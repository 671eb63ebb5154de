#include "cli/units.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::cli {
namespace {

constexpr int64_t kSec = 1000000000;

TEST(Units, HumanSize) {
  EXPECT_EQ(human_size(0), "0B");
  EXPECT_EQ(human_size(999), "999B");
  EXPECT_EQ(human_size(1984000), "1.98MB");
  EXPECT_EQ(human_size(1984000, 4), "1.984MB");
  EXPECT_EQ(human_size(2048), "2.05kB");
  EXPECT_EQ(human_size(1e9), "1GB");
}

TEST(Units, BytesSize) {
  EXPECT_EQ(bytes_size(0), "0B");
  EXPECT_EQ(bytes_size(1536), "1.5KiB");
  EXPECT_EQ(bytes_size(512.0 * 1024 * 1024), "512MiB");
  EXPECT_EQ(bytes_size(23.54 * 1024 * 1024 * 1024), "23.54GiB");
}

TEST(Units, RamInBytes) {
  EXPECT_EQ(ram_in_bytes("512m"), 512LL * 1024 * 1024);
  EXPECT_EQ(ram_in_bytes("1g"), 1LL << 30);
  EXPECT_EQ(ram_in_bytes("1.5GiB"), 3LL << 29);
  EXPECT_EQ(ram_in_bytes("100"), 100);
  EXPECT_EQ(ram_in_bytes("10 kb"), 10240);
  EXPECT_THROW(ram_in_bytes("lots"), Error);
  EXPECT_EQ(from_human_size("1.2MB"), 1200000);
}

TEST(Units, HumanDuration) {
  EXPECT_EQ(human_duration(0), "Less than a second");
  EXPECT_EQ(human_duration(1 * kSec), "1 second");
  EXPECT_EQ(human_duration(3 * kSec), "3 seconds");
  EXPECT_EQ(human_duration(60 * kSec), "About a minute");
  EXPECT_EQ(human_duration(119 * kSec), "About a minute");
  EXPECT_EQ(human_duration(2 * 60 * kSec), "2 minutes");
  EXPECT_EQ(human_duration(59 * 60 * kSec), "59 minutes");
  EXPECT_EQ(human_duration(60 * 60 * kSec), "About an hour");
  EXPECT_EQ(human_duration(90 * 60 * kSec), "2 hours");
  EXPECT_EQ(human_duration(47 * 3600 * kSec), "47 hours");
  EXPECT_EQ(human_duration(3 * 24 * 3600 * kSec), "3 days");
  EXPECT_EQ(human_duration(20 * 24 * 3600 * kSec), "2 weeks");
  EXPECT_EQ(human_duration(90 * 24 * 3600 * kSec), "3 months");
  EXPECT_EQ(human_duration(3 * 365 * 24 * 3600 * kSec), "3 years");
  EXPECT_EQ(time_ago(100, 103), "3 seconds ago");
}

TEST(Units, GoDurations) {
  EXPECT_EQ(parse_go_duration("1m30s"), 90 * kSec);
  EXPECT_EQ(parse_go_duration("1.5s"), 1500000000);
  EXPECT_EQ(parse_go_duration("300ms"), 300000000);
  EXPECT_EQ(parse_go_duration("0"), 0);
  EXPECT_THROW(parse_go_duration("10"), Error);
  EXPECT_THROW(parse_go_duration("1x"), Error);
  EXPECT_EQ(go_duration_string(90 * kSec), "1m30s");
  EXPECT_EQ(go_duration_string(1500000000), "1.5s");
  EXPECT_EQ(go_duration_string(0), "0s");
  EXPECT_EQ(go_duration_string(500000000), "500ms");
}

TEST(Units, ApiTimestamp) {
  int64_t now = 1000 * kSec;
  EXPECT_EQ(api_timestamp("10s", now), "990.000000000");
  EXPECT_EQ(api_timestamp("1700000000", now), "1700000000");
  EXPECT_EQ(api_timestamp("1700000000.5", now), "1700000000.5");
  EXPECT_EQ(api_timestamp("2023-11-14T22:13:20Z", now), "1700000000.000000000");
  EXPECT_THROW(api_timestamp("yesterday", now), Error);
}

TEST(Units, EllipsisQuoteTruncate) {
  EXPECT_EQ(ellipsis("sh -c 'echo logline; sleep 1000'", 20), "sh -c 'echo logline…");
  EXPECT_EQ(ellipsis("sleep 1000", 20), "sleep 1000");
  EXPECT_EQ(ellipsis("héllo wörld", 5), "héll…");
  EXPECT_EQ(go_quote("a \"b\"\n\\"), R"("a \"b\"\n\\")");
  EXPECT_EQ(go_quote(std::string("\x01", 1)), R"("\x01")");
  EXPECT_EQ(truncate_id("sha256:bd849467ec42694883dae3bb"), "bd849467ec42");
  EXPECT_EQ(truncate_id("b1dbcd29541bbc84"), "b1dbcd29541b");
}

}  // namespace
}  // namespace berth::cli
