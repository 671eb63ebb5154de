// features and spec.
#include <memory>

#include "base/error.h"
#include "base/fs.h"
#include "commands.h"
#include "oci/spec.h"
#include "runtime/capabilities.h"
#include "runtime/namespaces.h"

namespace berth::cmd {

void add_features(CLI::App& app, Globals&, int* code) {
  auto* sub = app.add_subcommand("features", "show what this runtime implements (JSON)");
  sub->callback([code] {
    nlohmann::json ns = nlohmann::json::array();
    for (const auto& k : runtime::namespace_kinds()) ns.push_back(k.spec_name);
    nlohmann::json j = {
        {"ociVersionMin", "1.0.0"},
        {"ociVersionMax", "1.1.0"},
        {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
        {"mountOptions",
         {"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud",
          "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime",
          "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "rdev", "rdiratime", "relatime", "remount",
          "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnosuid", "rnosymfollow", "ro", "rprivate",
          "rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable", "rw",
          "shared", "silent", "slave", "strictatime", "suid", "symfollow", "sync", "unbindable"}},
        {"linux",
         {{"namespaces", ns},
          {"capabilities", runtime::all_capability_names()},
          {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", true}, {"systemdUser", false}}},
          {"seccomp",
           {{"enabled", true},
            {"actions",
             {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
              "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}},
            {"operators",
             {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
              "SCMP_CMP_NE"}},
            {"archs",
             {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
              "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
              "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32",
              "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"}},
            {"knownFlags",
             {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
              "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}}}},
          {"apparmor", {{"enabled", false}}},
          {"selinux", {{"enabled", false}}},
          {"intelRdt", {{"enabled", false}}}}},
        {"annotations", {{"org.opencontainers.runtime-spec.features", "berth-runtime"}}}};
    print_json(j, true);
    *code = 0;
  });
}

void add_spec(CLI::App& app, Globals&, int* code) {
  auto* sub = app.add_subcommand("spec", "write a template config.json");
  struct Opts {
    std::string bundle = ".";
    bool rootless = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("-b,--bundle", o->bundle, "bundle directory");
  sub->add_flag("--rootless", o->rootless, "template for a rootless container");
  sub->callback([o, code] {
    std::string path = o->bundle + "/config.json";
    if (path_exists(path)) fail("File {} exists. Remove it first", path);
    write_file(path, oci::default_spec_json(o->rootless).dump(1, '\t') + "\n", 0644);
    *code = 0;
  });
}

}  // namespace berth::cmd
