#include "engine/docker_caps.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::engine {
namespace {

using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Caps, DefaultsAreDockers14) {
  auto caps = docker_capabilities({}, {}, false);
  EXPECT_EQ(caps.size(), 14u);
  EXPECT_THAT(caps, ElementsAreArray(docker_default_capabilities()));
  EXPECT_THAT(caps, Contains("CAP_NET_RAW"));
  EXPECT_THAT(caps, Not(Contains("CAP_SYS_ADMIN")));
}

TEST(Caps, AddAndDropAcceptAnyCaseWithOrWithoutPrefix) {
  auto caps = docker_capabilities({"sys_admin", "CAP_NET_ADMIN", "Sys_Ptrace"}, {"net_raw", "CAP_MKNOD"}, false);
  EXPECT_THAT(caps, Contains("CAP_SYS_ADMIN"));
  EXPECT_THAT(caps, Contains("CAP_NET_ADMIN"));
  EXPECT_THAT(caps, Contains("CAP_SYS_PTRACE"));
  EXPECT_THAT(caps, Not(Contains("CAP_NET_RAW")));
  EXPECT_THAT(caps, Not(Contains("CAP_MKNOD")));
  EXPECT_EQ(caps.size(), 14u - 2 + 3);
}

TEST(Caps, AddingADefaultDoesNotDuplicate) {
  EXPECT_EQ(docker_capabilities({"CHOWN"}, {}, false).size(), 14u);
}

TEST(Caps, DropAllKeepsOnlyAdded) {
  EXPECT_THAT(docker_capabilities({"chown"}, {"ALL"}, false), ElementsAreArray({"CAP_CHOWN"}));
  EXPECT_TRUE(docker_capabilities({}, {"all"}, false).empty());
}

TEST(Caps, AddAllMinusDropped) {
  auto caps = docker_capabilities({"ALL"}, {"SYS_ADMIN"}, false);
  EXPECT_EQ(caps.size(), kernel_capabilities().size() - 1);
  EXPECT_THAT(caps, Not(Contains("CAP_SYS_ADMIN")));
}

TEST(Caps, PrivilegedGetsEveryKernelCapability) {
  auto caps = docker_capabilities({}, {"ALL"}, true);
  EXPECT_EQ(caps, kernel_capabilities());
  EXPECT_THAT(caps, Contains("CAP_SYS_ADMIN"));
  EXPECT_GE(caps.size(), 38u);
}

TEST(Caps, UnknownCapabilityIsDockersError) {
  EXPECT_EQ(error_of([] { docker_capabilities({"foo"}, {}, false); }), "unknown capability: \"CAP_FOO\"");
  EXPECT_THAT(error_of([] { docker_capabilities({}, {"CAP_NOPE"}, false); }), HasSubstr("CAP_NOPE"));
}

}  // namespace
}  // namespace berth::engine
