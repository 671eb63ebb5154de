#include "engine/stats.h"

#include <gtest/gtest.h>

namespace berth::engine {
namespace {

TEST(StatsTest, ProcStatSumsTheFirstSevenFieldsInNanoseconds) {
  const char* text =
      "cpu  100 2 30 400 5 6 7 8 0 0\n"
      "cpu0 50 1 15 200 2 3 3 4 0 0\n"
      "cpu1 50 1 15 200 3 3 4 4 0 0\n"
      "intr 12345\n"
      "ctxt 99\n";
  HostCpu c = parse_proc_stat(text, 100);
  EXPECT_EQ(c.system_ns, (100 + 2 + 30 + 400 + 5 + 6 + 7) * 10000000ULL);  // steal left out, as dockerd does
  EXPECT_EQ(c.online, 2u);
}

TEST(StatsTest, MemTotalIsInBytes) {
  EXPECT_EQ(parse_mem_total("MemTotal:       16318540 kB\nMemFree:         1000 kB\n"), 16318540ULL * 1024);
  EXPECT_EQ(parse_mem_total("MemFree: 1 kB\n"), 0u);
}

TEST(StatsTest, NetDevLeavesLoopbackOut) {
  const char* text =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
      "    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n"
      "  eth0:    1500      10    1    2    0     0          0         0      700       7    3    4    0     0       0          0\n";
  nlohmann::json j = parse_net_dev(text);
  ASSERT_TRUE(j.is_object());
  EXPECT_FALSE(j.contains("lo"));
  EXPECT_EQ(j["eth0"]["rx_bytes"], 1500);
  EXPECT_EQ(j["eth0"]["rx_packets"], 10);
  EXPECT_EQ(j["eth0"]["rx_errors"], 1);
  EXPECT_EQ(j["eth0"]["rx_dropped"], 2);
  EXPECT_EQ(j["eth0"]["tx_bytes"], 700);
  EXPECT_EQ(j["eth0"]["tx_dropped"], 4);
}

TEST(StatsTest, NetDevWithOnlyLoopbackIsNull) {
  EXPECT_TRUE(parse_net_dev("h\nh\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n").is_null());
}

}  // namespace
}  // namespace berth::engine
