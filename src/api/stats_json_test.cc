#include "api/stats_json.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

using nlohmann::json;

engine::StatsSample v1_sample(uint64_t total, uint64_t system) {
  engine::StatsSample s;
  s.running = true;
  s.read = "2024-01-01T00:00:01.5Z";
  s.system_cpu_ns = system;
  s.online_cpus = 2;
  s.host_memory = 8ULL << 30;
  s.cgroup = {
      {"cpu",
       {{"usage", {{"total", total}, {"percpu", {total / 2, total / 2}}, {"kernel", 10}, {"user", 20}}},
        {"throttling", {{"periods", 5}, {"throttledPeriods", 2}, {"throttledTime", 300}}}}},
      {"memory",
       {{"usage", {{"usage", 4096000}, {"max", 5000000}, {"limit", 9223372036854771712ULL}, {"failcnt", 0}}},
        {"raw", {{"total_inactive_file", 1000}, {"cache", 2000}}}}},
      {"pids", {{"current", 3}}},
      {"blkio", {{"ioServiceBytesRecursive", {{{"major", 8}, {"op", "Read"}, {"value", 4096}}}}}},
      {"hugetlb", json::object()}};
  return s;
}

TEST(StatsJsonTest, StoppedContainerIsAllZeros) {
  json j = stats_json("/web", "abc", engine::StatsSample{}, engine::StatsSample{});
  EXPECT_EQ(j["read"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(j["preread"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(j["name"], "/web");
  EXPECT_EQ(j["id"], "abc");
  EXPECT_EQ(j["pids_stats"], json::object());
  EXPECT_EQ(j["memory_stats"], json::object());
  EXPECT_EQ(j["storage_stats"], json::object());
  EXPECT_EQ(j["num_procs"], 0);
  EXPECT_TRUE(j["blkio_stats"]["io_service_bytes_recursive"].is_null());
  json zero_cpu = {{"cpu_usage", {{"total_usage", 0}, {"usage_in_kernelmode", 0}, {"usage_in_usermode", 0}}},
                   {"throttling_data", {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}};
  EXPECT_EQ(j["cpu_stats"], zero_cpu);
  EXPECT_EQ(j["precpu_stats"], zero_cpu);
  EXPECT_FALSE(j.contains("networks"));
}

TEST(StatsJsonTest, CpuAndPrecpuComeFromTheTwoSamples) {
  engine::StatsSample pre = v1_sample(1000, 100000);
  pre.read = "2024-01-01T00:00:00.5Z";
  json j = stats_json("/web", "abc", v1_sample(5000, 200000), pre);
  EXPECT_EQ(j["read"], "2024-01-01T00:00:01.5Z");
  EXPECT_EQ(j["preread"], "2024-01-01T00:00:00.5Z");
  const json& cpu = j["cpu_stats"];
  EXPECT_EQ(cpu["cpu_usage"]["total_usage"], 5000);
  EXPECT_EQ(cpu["cpu_usage"]["percpu_usage"], json({2500, 2500}));
  EXPECT_EQ(cpu["cpu_usage"]["usage_in_kernelmode"], 10);
  EXPECT_EQ(cpu["cpu_usage"]["usage_in_usermode"], 20);
  EXPECT_EQ(cpu["system_cpu_usage"], 200000);
  EXPECT_EQ(cpu["online_cpus"], 2);
  EXPECT_EQ(cpu["throttling_data"], json({{"periods", 5}, {"throttled_periods", 2}, {"throttled_time", 300}}));
  EXPECT_EQ(j["precpu_stats"]["cpu_usage"]["total_usage"], 1000);
  EXPECT_EQ(j["precpu_stats"]["system_cpu_usage"], 100000);
}

TEST(StatsJsonTest, FirstSampleHasZeroPrecpu) {
  json j = stats_json("/web", "abc", v1_sample(5000, 200000), engine::StatsSample{});
  EXPECT_EQ(j["preread"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(j["precpu_stats"]["cpu_usage"]["total_usage"], 0);
  EXPECT_FALSE(j["precpu_stats"].contains("system_cpu_usage"));
}

TEST(StatsJsonTest, UnlimitedMemoryShowsTheHostsMemory) {
  json m = stats_json("/web", "abc", v1_sample(1, 1), {})["memory_stats"];
  EXPECT_EQ(m["usage"], 4096000);
  EXPECT_EQ(m["max_usage"], 5000000);
  EXPECT_EQ(m["limit"], 8ULL << 30);
  EXPECT_FALSE(m.contains("failcnt"));
  EXPECT_EQ(m["stats"]["total_inactive_file"], 1000);
}

TEST(StatsJsonTest, AMemoryLimitIsKept) {
  engine::StatsSample s = v1_sample(1, 1);
  s.cgroup["memory"]["usage"]["limit"] = 64 << 20;
  EXPECT_EQ(stats_json("/web", "abc", s, {})["memory_stats"]["limit"], 64 << 20);
}

TEST(StatsJsonTest, V2HasNoPercpuOrMaxUsage) {
  engine::StatsSample s = v1_sample(1, 1);
  s.cgroup["cpu"]["usage"].erase("percpu");
  s.cgroup["memory"]["usage"].erase("max");
  json j = stats_json("/web", "abc", s, {});
  EXPECT_FALSE(j["cpu_stats"]["cpu_usage"].contains("percpu_usage"));
  EXPECT_FALSE(j["memory_stats"].contains("max_usage"));
}

TEST(StatsJsonTest, PidsBlkioAndNetworks) {
  engine::StatsSample s = v1_sample(1, 1);
  json j = stats_json("/web", "abc", s, {});
  EXPECT_EQ(j["pids_stats"], json({{"current", 3}}));
  EXPECT_EQ(j["blkio_stats"]["io_service_bytes_recursive"],
            json::array({{{"major", 8}, {"minor", 0}, {"op", "Read"}, {"value", 4096}}}));
  EXPECT_EQ(j["blkio_stats"]["io_serviced_recursive"], json::array());
  EXPECT_FALSE(j.contains("networks"));
  s.networks = {{"eth0", {{"rx_bytes", 10}}}};
  EXPECT_EQ(stats_json("/web", "abc", s, {})["networks"]["eth0"]["rx_bytes"], 10);
}

}  // namespace
}  // namespace berth::api
