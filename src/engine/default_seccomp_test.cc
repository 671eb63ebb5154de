#include "engine/default_seccomp.h"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "engine/docker_caps.h"
#include "oci/spec.h"
#include "runtime/seccomp.h"

namespace berth::engine {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const SeccompHost kAmd64{"amd64", "SCMP_ARCH_X86_64", 6, 1};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Every syscall name allowed by some rule (any arguments).
std::set<std::string> allowed(const json& oci) {
  std::set<std::string> out;
  for (const auto& r : oci["syscalls"])
    if (r["action"] == "SCMP_ACT_ALLOW")
      for (const auto& n : r["names"]) out.insert(n);
  return out;
}

json rules_for(const json& oci, const std::string& name) {
  json out = json::array();
  for (const auto& r : oci["syscalls"])
    for (const auto& n : r["names"])
      if (n == name) out.push_back(r);
  return out;
}

TEST(Seccomp, DefaultProfileShape) {
  json p = docker_default_seccomp_profile();
  EXPECT_EQ(p["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(p["defaultErrnoRet"], 1);
  EXPECT_EQ(p["archMap"][0]["architecture"], "SCMP_ARCH_X86_64");
  const json& first = p["syscalls"][0];
  EXPECT_EQ(first["action"], "SCMP_ACT_ALLOW");
  EXPECT_FALSE(first.contains("includes"));
  std::set<std::string> names(first["names"].begin(), first["names"].end());
  EXPECT_EQ(names.size(), first["names"].size()) << "no duplicates";
  for (const char* n : {"read", "write", "openat", "execve", "futex", "getrandom", "io_uring_setup", "rseq"})
    EXPECT_TRUE(names.count(n)) << n;
  for (const char* n : {"mount", "clone", "clone3", "ptrace", "reboot", "socket", "personality", "kexec_load"})
    EXPECT_FALSE(names.count(n)) << n;
}

TEST(Seccomp, DefaultCapsFilterForAmd64) {
  json oci = seccomp_profile_to_oci(docker_default_seccomp_profile(), docker_default_capabilities(), kAmd64);
  EXPECT_EQ(oci["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(oci["defaultErrnoRet"], 1);
  EXPECT_EQ(oci["architectures"], json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  auto names = allowed(oci);
  EXPECT_TRUE(names.count("arch_prctl"));
  EXPECT_TRUE(names.count("modify_ldt"));
  EXPECT_TRUE(names.count("chroot"));  // CAP_SYS_CHROOT is a default
  EXPECT_TRUE(names.count("ptrace"));  // kernel >= 4.8
  for (const char* n : {"mount", "umount2", "unshare", "setns", "reboot", "init_module", "open_by_handle_at",
                        "s390_runtime_instr", "cacheflush", "bpf", "perf_event_open", "settimeofday"})
    EXPECT_FALSE(names.count(n)) << n;
  // clone: only without namespace flags; clone3: ENOSYS.
  json clone = rules_for(oci, "clone");
  ASSERT_EQ(clone.size(), 1u);
  EXPECT_EQ(clone[0]["args"][0], json({{"index", 0}, {"value", 2114060288}, {"op", "SCMP_CMP_MASKED_EQ"}}));
  json clone3 = rules_for(oci, "clone3");
  ASSERT_EQ(clone3.size(), 1u);
  EXPECT_EQ(clone3[0]["action"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(clone3[0]["errnoRet"], 38);
  // socket: anything but AF_VSOCK; personality: five allowed values.
  EXPECT_EQ(rules_for(oci, "socket")[0]["args"][0], json({{"index", 0}, {"value", 40}, {"op", "SCMP_CMP_NE"}}));
  EXPECT_EQ(rules_for(oci, "personality").size(), 5u);
  for (const auto& r : oci["syscalls"]) {
    EXPECT_FALSE(r.contains("includes"));
    EXPECT_FALSE(r.contains("comment"));
  }
}

TEST(Seccomp, SysAdminAllowsMountAndPlainClone) {
  auto caps = docker_default_capabilities();
  caps.push_back("CAP_SYS_ADMIN");
  json oci = seccomp_profile_to_oci(docker_default_seccomp_profile(), caps, kAmd64);
  auto names = allowed(oci);
  EXPECT_TRUE(names.count("mount"));
  EXPECT_TRUE(names.count("unshare"));
  json clone = rules_for(oci, "clone");
  ASSERT_EQ(clone.size(), 1u);
  EXPECT_FALSE(clone[0].contains("args"));
  EXPECT_EQ(rules_for(oci, "clone3")[0]["action"], "SCMP_ACT_ALLOW");
}

TEST(Seccomp, ArchAndKernelConditions) {
  SeccompHost old_arm{"arm64", "SCMP_ARCH_AARCH64", 4, 4};
  json oci = seccomp_profile_to_oci(docker_default_seccomp_profile(), docker_default_capabilities(), old_arm);
  EXPECT_EQ(oci["architectures"], json({"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
  auto names = allowed(oci);
  EXPECT_TRUE(names.count("cacheflush"));
  EXPECT_FALSE(names.count("arch_prctl"));
  EXPECT_FALSE(names.count("ptrace"));  // before 4.8 ptrace could escape seccomp

  SeccompHost s390{"s390x", "SCMP_ARCH_S390X", 6, 0};
  json z = seccomp_profile_to_oci(docker_default_seccomp_profile(), docker_default_capabilities(), s390);
  json clone = rules_for(z, "clone");
  ASSERT_EQ(clone.size(), 1u);
  EXPECT_EQ(clone[0]["args"][0]["index"], 1);
}

TEST(Seccomp, CustomProfileConversion) {
  json profile = json::parse(R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
      {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
      {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 511, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
      {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "99.0"}}
    ]})");
  json oci = seccomp_profile_to_oci(profile, {"CAP_CHOWN"}, kAmd64);
  EXPECT_EQ(oci["defaultAction"], "SCMP_ACT_ALLOW");
  EXPECT_EQ(oci["architectures"], json({"SCMP_ARCH_X86_64"}));
  EXPECT_EQ(oci["flags"], json({"SECCOMP_FILTER_FLAG_LOG"}));
  ASSERT_EQ(oci["syscalls"].size(), 3u);
  EXPECT_EQ(oci["syscalls"][0], json({{"names", {"mkdir"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 13}}));
  EXPECT_EQ(oci["syscalls"][1]["args"][0]["valueTwo"], 0);
  EXPECT_EQ(oci["syscalls"][2]["names"][0], "sethostname");
}

TEST(Seccomp, ProfileErrors) {
  EXPECT_TRUE(seccomp_profile_to_oci(json::object(), {}, kAmd64).is_null());  // docker: unconfined
  EXPECT_THAT(error_of([] { parse_seccomp_profile("{nope"); }), HasSubstr("Decoding seccomp profile failed"));
  EXPECT_THAT(error_of([] {
                seccomp_profile_to_oci(json::parse(R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
                  "archMap":[{"architecture":"SCMP_ARCH_X86_64"}]})"),
                                       {}, kAmd64);
              }),
              HasSubstr("both 'architectures' and 'archMap'"));
  EXPECT_EQ(error_of([] {
              seccomp_profile_to_oci(
                  json::parse(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]})"),
                  {}, kAmd64);
            }),
            "use either 'name' or 'names'");
  EXPECT_THAT(error_of([] {
                seccomp_profile_to_oci(json::parse(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":"x"})"), {}, kAmd64);
              }),
              HasSubstr("Decoding seccomp profile failed"));
}

// The converted default profile is one berth-runtime's libseccomp compiler
// accepts (the same check runc's would make).
TEST(Seccomp, DefaultProfileCompilesWithLibseccomp) {
  json oci = seccomp_profile_to_oci(docker_default_seccomp_profile(), docker_default_capabilities());
  json spec = oci::default_spec_json(false);
  spec["linux"]["seccomp"] = oci;
  oci::Spec parsed = oci::parse_spec(spec.dump());
  ASSERT_TRUE(parsed.linux.seccomp.has_value());
  auto filter = runtime::SeccompFilter::compile(*parsed.linux.seccomp);
  EXPECT_FALSE(filter.uses_notify());
}

}  // namespace
}  // namespace berth::engine
