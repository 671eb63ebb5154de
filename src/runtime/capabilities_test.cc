#include "runtime/capabilities.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "base/test_util.h"

namespace berth::runtime {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t bit(int cap) { return 1ULL << cap; }

using berth::test::run_in_child;

// "CapBnd" etc. from /proc/self/status.
uint64_t status_caps(const std::string& field) {
  for (const auto& line : split(read_file("/proc/self/status"), '\n')) {
    if (line.rfind(field + ":", 0) != 0) continue;
    return std::stoull(std::string(trim(line.substr(field.size() + 1))), nullptr, 16);
  }
  return ~0ULL;
}

uint64_t current_caps(const std::string& field) { return status_caps(field); }

TEST(Capabilities, NamesToNumbers) {
  EXPECT_EQ(capability_from_name("CAP_CHOWN"), 0);
  EXPECT_EQ(capability_from_name("CAP_KILL"), 5);
  EXPECT_EQ(capability_from_name("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(capability_from_name("CAP_SYS_RESOURCE"), 24);
  EXPECT_EQ(capability_from_name("cap_net_admin"), 12);
  EXPECT_EQ(capability_from_name("CAP_AUDIT_READ"), 37);
  EXPECT_EQ(capability_from_name("CAP_CHECKPOINT_RESTORE"), 40);
}

TEST(Capabilities, NonNamesRejected) {
  for (const char* bad : {"CAP_FOO", "SYS_ADMIN", "", "CAP_", "CAP_1", "CAP_21", "21", "cap_sys_admin2", "CAP_SYS ADMIN"})
    EXPECT_EQ(capability_from_name(bad), -1) << bad;
}

TEST(Capabilities, NumbersToNames) {
  EXPECT_EQ(capability_name(0), "CAP_CHOWN");
  EXPECT_EQ(capability_name(21), "CAP_SYS_ADMIN");
  auto all = all_capability_names();
  ASSERT_EQ(all.size(), static_cast<size_t>(CAP_LAST_CAP + 1));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(capability_from_name(all[i]), static_cast<int>(i)) << all[i];
}

TEST(Capabilities, LastCapabilityIsTheKernels) {
  EXPECT_EQ(last_capability(), std::stoi(read_file("/proc/sys/kernel/cap_last_cap")));
}

TEST(Capabilities, ParseSetsBits) {
  oci::Capabilities c;
  c.bounding = {"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_KILL"};
  c.effective = {"CAP_KILL"};
  c.inheritable = {};
  c.permitted = {"cap_kill", "CAP_NET_RAW"};
  c.ambient = {"CAP_NET_BIND_SERVICE"};
  CapabilitySets s = parse_capabilities(c);
  EXPECT_EQ(s.bounding, bit(0) | bit(21) | bit(5));
  EXPECT_EQ(s.effective, bit(5));
  EXPECT_EQ(s.inheritable, 0u);
  EXPECT_EQ(s.permitted, bit(5) | bit(13));
  EXPECT_EQ(s.ambient, bit(10));
}

TEST(Capabilities, UnknownNameErrorNamesSet) {
  oci::Capabilities c;
  c.bounding = {"CAP_CHOWN"};
  c.permitted = {"CAP_CHOWN", "CAP_BOGUS"};
  try {
    parse_capabilities(c);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("process.capabilities.permitted"));
    EXPECT_THAT(e.what(), HasSubstr("CAP_BOGUS"));
  }
  c.permitted.clear();
  c.ambient = {"CAP_7"};
  try {
    parse_capabilities(c);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("process.capabilities.ambient"));
  }
}

TEST(Capabilities, DropBoundingInChild) {
  uint64_t keep = bit(0) | bit(5);  // CHOWN, KILL
  int rc = run_in_child([&] {
    if (drop_bounding(keep) != 0) return 1;
    if (current_caps("CapBnd") != keep) return 2;
    for (int c = 0; c <= last_capability(); ++c)
      if ((prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1) != ((keep & bit(c)) != 0)) return 3;
    return 0;
  });
  EXPECT_EQ(rc, 0);
  // The parent is untouched.
  EXPECT_NE(current_caps("CapBnd"), keep);
}

TEST(Capabilities, ApplyInChild) {
  CapabilitySets s;
  s.bounding = bit(0) | bit(5) | bit(10);
  s.permitted = bit(0) | bit(5) | bit(10);
  s.effective = bit(5);
  s.inheritable = bit(5) | bit(10);
  s.ambient = bit(10);
  int rc = run_in_child([&] {
    if (drop_bounding(s.bounding) != 0) return 1;
    if (apply_capabilities(s) != 0) return 2;
    if (current_caps("CapPrm") != s.permitted) return 3;
    if (current_caps("CapEff") != s.effective) return 4;
    if (current_caps("CapInh") != s.inheritable) return 5;
    if (current_caps("CapAmb") != s.ambient) return 6;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Capabilities, ApplyReportsErrnoInsteadOfThrowing) {
  int rc = run_in_child([] {
    CapabilitySets narrow;
    narrow.permitted = narrow.effective = bit(5);
    if (apply_capabilities(narrow) != 0) return 1;
    // Regaining a permitted capability once dropped is not allowed.
    CapabilitySets wide;
    wide.permitted = wide.effective = bit(5) | bit(0);
    int r = apply_capabilities(wide);
    return r == -EPERM ? 0 : 2;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace berth::runtime
