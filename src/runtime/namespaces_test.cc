#include "runtime/namespaces.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace berth::runtime {
namespace {

using ::testing::HasSubstr;

std::string plan_error(const std::vector<oci::Namespace>& in) {
  try {
    plan_namespaces(in);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(Namespaces, KindsTable) {
  const auto& kinds = namespace_kinds();
  ASSERT_EQ(kinds.size(), 8u);
  EXPECT_STREQ(kinds.front().spec_name, "user");
  EXPECT_STREQ(kinds.back().spec_name, "mount");
  EXPECT_STREQ(namespace_kind("network").proc_name, "net");
  EXPECT_EQ(namespace_kind("network").clone_flag, CLONE_NEWNET);
  EXPECT_STREQ(namespace_kind("mount").proc_name, "mnt");
  EXPECT_EQ(namespace_kind("mount").clone_flag, CLONE_NEWNS);
  EXPECT_EQ(namespace_kind("pid").clone_flag, CLONE_NEWPID);
  EXPECT_EQ(namespace_kind("cgroup").clone_flag, CLONE_NEWCGROUP);
  EXPECT_EQ(namespace_kind("time").clone_flag, CLONE_NEWTIME);
  EXPECT_EQ(namespace_kind("uts").clone_flag, CLONE_NEWUTS);
  EXPECT_EQ(namespace_kind("ipc").clone_flag, CLONE_NEWIPC);
  EXPECT_EQ(namespace_kind("user").clone_flag, CLONE_NEWUSER);
  // Every kind's /proc name exists on this kernel.
  for (const auto& k : kinds) EXPECT_TRUE(path_exists(std::string("/proc/self/ns/") + k.proc_name)) << k.proc_name;
}

TEST(Namespaces, NewOnes) {
  NamespacePlan p = plan_namespaces({{"pid", ""}, {"network", ""}, {"mount", ""}});
  EXPECT_EQ(p.new_flags, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS);
  EXPECT_TRUE(p.joins.empty());
  EXPECT_TRUE(p.has(CLONE_NEWPID));
  EXPECT_TRUE(p.is_new(CLONE_NEWNET));
  EXPECT_FALSE(p.joins_kind(CLONE_NEWNET));
  EXPECT_FALSE(p.has(CLONE_NEWUSER));
  EXPECT_EQ(p.join_path(CLONE_NEWNET), "");
  EXPECT_EQ(plan_namespaces({}).new_flags, 0);
}

TEST(Namespaces, UnknownTypeRejected) {
  EXPECT_THAT(plan_error({{"pid", ""}, {"net", ""}}), HasSubstr("unknown namespace type \"net\""));
  EXPECT_THROW(namespace_kind("PID"), Error);
}

TEST(Namespaces, DuplicatesRejected) {
  EXPECT_THAT(plan_error({{"pid", ""}, {"uts", ""}, {"pid", ""}}), HasSubstr("\"pid\" listed twice"));
  EXPECT_THAT(plan_error({{"network", ""}, {"network", "/proc/self/ns/net"}}), HasSubstr("listed twice"));
}

TEST(Namespaces, PathThatIsNotANamespaceRejected) {
  char tmpl[] = "/tmp/berth-ns-test-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string err = plan_error({{"network", tmpl}});
  ::unlink(tmpl);
  EXPECT_THAT(err, HasSubstr(tmpl));
  EXPECT_THAT(err, HasSubstr("is not a namespace"));
}

TEST(Namespaces, MissingPathRejected) {
  std::string err = plan_error({{"ipc", "/proc/self/ns/does-not-exist"}});
  EXPECT_THAT(err, HasSubstr("/proc/self/ns/does-not-exist"));
  EXPECT_THAT(err, HasSubstr("no such file"));
}

TEST(Namespaces, PathOfWrongTypeRejected) {
  std::string err = plan_error({{"ipc", "/proc/self/ns/net"}});
  EXPECT_THAT(err, HasSubstr("/proc/self/ns/net is not a ipc namespace"));
  EXPECT_THAT(plan_error({{"mount", "/proc/self/ns/user"}}), HasSubstr("not a mount namespace"));
}

TEST(Namespaces, JoinsOrderedUserFirstMountLast) {
  NamespacePlan p = plan_namespaces({{"mount", "/proc/self/ns/mnt"},
                                     {"pid", ""},
                                     {"network", "/proc/self/ns/net"},
                                     {"user", "/proc/self/ns/user"},
                                     {"ipc", "/proc/self/ns/ipc"},
                                     {"time", "/proc/self/ns/time"}});
  std::vector<std::string> order;
  for (const auto& [kind, path] : p.joins) order.push_back(kind->spec_name);
  EXPECT_EQ(order, (std::vector<std::string>{"user", "ipc", "network", "time", "mount"}));
  EXPECT_EQ(p.new_flags, CLONE_NEWPID);
  EXPECT_TRUE(p.joins_kind(CLONE_NEWNS));
  EXPECT_FALSE(p.is_new(CLONE_NEWNS));
  EXPECT_TRUE(p.has(CLONE_NEWNS));
  EXPECT_EQ(p.join_path(CLONE_NEWNET), "/proc/self/ns/net");
  EXPECT_EQ(p.join_path(CLONE_NEWUSER), "/proc/self/ns/user");
}

}  // namespace
}  // namespace berth::runtime
