#include "engine/spec_resources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::engine {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SpecResources, EmptyHostConfigSetsNothing) { EXPECT_EQ(docker_resources(json::object(), true), json::object()); }

TEST(SpecResources, MemoryDefaultsSwapToTwiceMemory) {
  json r = docker_resources({{"Memory", 64 << 20}, {"MemoryReservation", 32 << 20}}, true);
  EXPECT_EQ(r["memory"], json({{"limit", 64 << 20}, {"reservation", 32 << 20}, {"swap", 128 << 20}}));
  EXPECT_FALSE(docker_resources({{"Memory", 64 << 20}}, false)["memory"].contains("swap"));
  EXPECT_FALSE(docker_resources({{"Memory", 64 << 20}, {"MemorySwap", -1}}, true)["memory"].contains("swap"));
  EXPECT_EQ(docker_resources({{"Memory", 64 << 20}, {"MemorySwap", 100 << 20}}, true)["memory"]["swap"], 100 << 20);
}

TEST(SpecResources, MemoryErrors) {
  EXPECT_EQ(error_of([] { docker_resources({{"Memory", 1024}}, true); }), "Minimum memory limit allowed is 6MB");
  EXPECT_THAT(error_of([] { docker_resources({{"Memory", 64 << 20}, {"MemorySwap", 32 << 20}}, true); }),
              HasSubstr("Minimum memoryswap limit should be larger than memory limit"));
  EXPECT_THAT(error_of([] { docker_resources({{"MemorySwap", 64 << 20}}, true); }),
              HasSubstr("You should always set the Memory limit"));
}

TEST(SpecResources, Cpu) {
  json r = docker_resources({{"NanoCpus", 500000000}, {"CpuShares", 512}, {"CpusetCpus", "0"}, {"CpusetMems", "0"}}, true);
  EXPECT_EQ(r["cpu"], json({{"shares", 512}, {"period", 100000}, {"quota", 50000}, {"cpus", "0"}, {"mems", "0"}}));
  json q = docker_resources({{"CpuPeriod", 50000}, {"CpuQuota", 25000}}, true);
  EXPECT_EQ(q["cpu"], json({{"period", 50000}, {"quota", 25000}}));
  EXPECT_EQ(error_of([] { docker_resources({{"NanoCpus", 1000000000}, {"CpuPeriod", 50000}}, true); }),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set");
}

TEST(SpecResources, PidsAndBlkio) {
  EXPECT_EQ(docker_resources({{"PidsLimit", 100}}, true)["pids"]["limit"], 100);
  EXPECT_EQ(docker_resources({{"PidsLimit", 0}}, true)["pids"]["limit"], -1);
  EXPECT_EQ(docker_resources({{"PidsLimit", -1}}, true)["pids"]["limit"], -1);
  EXPECT_FALSE(docker_resources({{"PidsLimit", nullptr}}, true).contains("pids"));
  EXPECT_EQ(docker_resources({{"BlkioWeight", 300}}, true)["blockIO"]["weight"], 300);
  EXPECT_EQ(error_of([] { docker_resources({{"BlkioWeight", 5}}, true); }), "Range of blkio weight is from 10 to 1000");
}

TEST(SpecResources, DefaultDeviceRules) {
  DeviceSetup d = docker_devices(json::object(), false);
  EXPECT_TRUE(d.devices.empty());
  ASSERT_EQ(d.cgroup_rules.size(), 8u);
  EXPECT_EQ(d.cgroup_rules[0], json({{"allow", false}, {"access", "rwm"}}));
  EXPECT_EQ(d.cgroup_rules[7], json({{"allow", false}, {"type", "c"}, {"major", 10}, {"minor", 229}, {"access", "rwm"}}));
}

TEST(SpecResources, UserDevicesAndRules) {
  DeviceSetup d = docker_devices({{"Devices", {"/dev/null:/dev/mynull:rw"}}, {"DeviceCgroupRules", {"c 1:7 rwm", "b *:* m"}}},
                                 false);
  ASSERT_EQ(d.devices.size(), 1u);
  EXPECT_EQ(d.devices[0]["path"], "/dev/mynull");
  EXPECT_EQ(d.devices[0]["type"], "c");
  EXPECT_EQ(d.devices[0]["major"], 1);
  EXPECT_EQ(d.devices[0]["minor"], 3);
  EXPECT_EQ(d.cgroup_rules[8], json({{"allow", true}, {"type", "c"}, {"major", 1}, {"minor", 3}, {"access", "rw"}}));
  EXPECT_EQ(d.cgroup_rules[9], json({{"allow", true}, {"type", "c"}, {"access", "rwm"}, {"major", 1}, {"minor", 7}}));
  EXPECT_EQ(d.cgroup_rules[10]["major"], -1);

  DeviceSetup o = docker_devices(
      {{"Devices", {{{"PathOnHost", "/dev/zero"}, {"PathInContainer", ""}, {"CgroupPermissions", "rwm"}}}}}, false);
  EXPECT_EQ(o.devices[0]["path"], "/dev/zero");
  EXPECT_THAT(error_of([] { docker_devices({{"Devices", {"/etc/passwd"}}}, false); }),
              HasSubstr("error gathering device information while adding custom device \"/etc/passwd\""));
  EXPECT_EQ(error_of([] { docker_devices({{"DeviceCgroupRules", {"x 1:2 r"}}}, false); }),
            "invalid device cgroup rule format: 'x 1:2 r'");
}

TEST(SpecResources, PrivilegedAllowsAllHostDevices) {
  DeviceSetup d = docker_devices(json::object(), true);
  EXPECT_EQ(d.cgroup_rules, json::array({{{"allow", true}, {"access", "rwm"}}}));
  bool has_null = false;
  for (const auto& dev : d.devices) {
    if (dev["path"] == "/dev/null") has_null = true;
    EXPECT_NE(dev["path"], "/dev/console");
    EXPECT_NE(dev["path"].get<std::string>().rfind("/dev/pts/", 0), 0u);
  }
  EXPECT_TRUE(has_null);
}

TEST(SpecResources, Ulimits) {
  json r = docker_rlimits({{"Ulimits", {{{"Name", "nofile"}, {"Soft", 1024}, {"Hard", 2048}}, {{"Name", "core"}, {"Soft", -1}, {"Hard", -1}}}}});
  EXPECT_EQ(r[0], json({{"type", "RLIMIT_NOFILE"}, {"soft", 1024}, {"hard", 2048}}));
  EXPECT_EQ(r[1]["soft"], UINT64_MAX);
  EXPECT_TRUE(docker_rlimits(json::object()).empty());
  EXPECT_EQ(error_of([] { docker_rlimits({{"Ulimits", {{{"Name", "bogus"}, {"Soft", 1}, {"Hard", 1}}}}}); }),
            "invalid ulimit type: bogus");
}

}  // namespace
}  // namespace berth::engine
