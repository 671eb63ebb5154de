#include "runtime/rlimits.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_util.h"

namespace berth::runtime {
namespace {

using ::testing::HasSubstr;

oci::Rlimit rl(std::string type, uint64_t hard, uint64_t soft) { return {std::move(type), hard, soft}; }

using berth::test::run_in_child;

// Removes CAP_SYS_RESOURCE from the effective set, so raising a hard limit
// fails with EPERM whatever the host grants.
bool drop_sys_resource() {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  data[CAP_SYS_RESOURCE / 32].effective &= ~(1u << (CAP_SYS_RESOURCE % 32));
  return syscall(SYS_capset, &hdr, data) == 0;
}

TEST(Rlimits, NamesMapToResources) {
  auto out = parse_rlimits({rl("RLIMIT_NOFILE", 10, 5), rl("RLIMIT_CORE", 0, 0), rl("RLIMIT_NPROC", 100, 100),
                            rl("RLIMIT_RTTIME", 7, 6), rl("RLIMIT_AS", RLIM_INFINITY, RLIM_INFINITY)});
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(out[0].limit.rlim_cur, 5u);
  EXPECT_EQ(out[0].limit.rlim_max, 10u);
  EXPECT_EQ(out[1].resource, RLIMIT_CORE);
  EXPECT_EQ(out[2].resource, RLIMIT_NPROC);
  EXPECT_EQ(out[3].resource, RLIMIT_RTTIME);
  EXPECT_EQ(out[4].resource, RLIMIT_AS);
  EXPECT_EQ(out[4].limit.rlim_max, RLIM_INFINITY);
  EXPECT_TRUE(parse_rlimits({}).empty());
}

TEST(Rlimits, UnknownTypeIsAnError) {
  for (const char* bad : {"RLIMIT_BOGUS", "NOFILE", "rlimit_nofile", ""}) {
    try {
      parse_rlimits({rl(bad, 1, 1)});
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("unknown rlimit type"));
    }
  }
}

TEST(Rlimits, SoftAboveHardIsAnError) {
  try {
    parse_rlimits({rl("RLIMIT_NOFILE", 100, 101)});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("RLIMIT_NOFILE"));
    EXPECT_THAT(e.what(), HasSubstr("soft limit 101 exceeds hard limit 100"));
  }
  EXPECT_NO_THROW(parse_rlimits({rl("RLIMIT_NOFILE", 100, 100)}));
}

TEST(Rlimits, DuplicateIsAnError) {
  try {
    parse_rlimits({rl("RLIMIT_NOFILE", 10, 10), rl("RLIMIT_CORE", 1, 1), rl("RLIMIT_NOFILE", 20, 20)});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("RLIMIT_NOFILE given twice"));
  }
}

TEST(Rlimits, ApplyLowersInChild) {
  int rc = run_in_child([] {
    auto limits = parse_rlimits({rl("RLIMIT_NOFILE", 200, 100), rl("RLIMIT_CORE", 0, 0)});
    if (apply_rlimits(limits) != 0) return 1;
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur != 100 || r.rlim_max != 200) return 2;
    getrlimit(RLIMIT_CORE, &r);
    if (r.rlim_cur != 0 || r.rlim_max != 0) return 3;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Rlimits, HardAboveCurrentHardIsClampedWithoutCapSysResource) {
  int rc = run_in_child([] {
    if (!drop_sys_resource()) return 10;
    struct rlimit low = {300, 500};
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) return 11;
    struct rlimit probe = {300, 2000};
    if (setrlimit(RLIMIT_NOFILE, &probe) == 0 || errno != EPERM) return 12;  // the premise
    // Both above the current hard: both clamped to it.
    if (apply_rlimits(parse_rlimits({rl("RLIMIT_NOFILE", 2000, 1000)})) != 0) return 1;
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur != 500 || r.rlim_max != 500) return 2;
    // Soft within the current hard is kept.
    if (apply_rlimits(parse_rlimits({rl("RLIMIT_NOFILE", 4000, 64)})) != 0) return 3;
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur != 64 || r.rlim_max != 500) return 4;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Rlimits, ApplyReportsOtherErrors) {
  int rc = run_in_child([] {
    ResolvedRlimit bad;
    bad.resource = RLIMIT_NOFILE;
    bad.limit = {10, 5};  // soft > hard: EINVAL, not clampable
    return apply_rlimits({bad}) == -EINVAL ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace berth::runtime
