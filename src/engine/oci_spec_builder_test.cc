#include "engine/oci_spec_builder.h"

#include <dirent.h>
#include <limits.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/test_util.h"
#include "oci/spec.h"

namespace berth::engine {
namespace {

using nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

SpecHost test_host() {
  SpecHost h;
  h.swap_limit = true;
  h.cgroup2_unified = false;
  h.hostname = "the-host";
  h.seccomp = SeccompHost{"amd64", "SCMP_ARCH_X86_64", 6, 1};
  return h;
}

class Spec : public ::testing::Test {
 protected:
  void SetUp() override {
    mkdir_all(dir_ / "rootfs/etc");
    write_file(dir_ / "rootfs/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
    write_file(dir_ / "rootfs/etc/group", "root:x:0:\nwheel:x:10:root\nnogroup:x:65534:\n");
    for (const char* f : {"hosts", "hostname", "resolv.conf"}) write_file(dir_ / f, "");
    in_.id = kId;
    in_.config = {{"Cmd", {"sh"}}, {"Env", {"FOO=bar"}}};
    in_.host_config = json::object();
    in_.image_config = {{"Env", {"PATH=/img/bin", "FOO=image"}}, {"Cmd", {"/bin/true"}}};
    in_.rootfs = dir_ / "rootfs";
    in_.hosts_path = dir_ / "hosts";
    in_.hostname_path = dir_ / "hostname";
    in_.resolv_conf_path = dir_ / "resolv.conf";
  }
  json build() { return build_oci_spec(in_, test_host()); }
  json mount_at(const json& spec, const std::string& dst) {
    for (const auto& m : spec["mounts"])
      if (m["destination"] == dst) return m;
    return nullptr;
  }
  std::vector<std::string> namespace_types(const json& spec) {
    std::vector<std::string> out;
    for (const auto& n : spec["linux"]["namespaces"]) out.push_back(n["type"]);
    return out;
  }

  test::TempDir dir_;
  SpecInputs in_;
};

TEST_F(Spec, MergeImageConfigEnvAndCmd) {
  json m = merge_image_config({{"Env", {"PATH=/p", "A=1"}}, {"Cmd", {"img"}}, {"Entrypoint", {"/ep"}}, {"User", "nobody"},
                               {"WorkingDir", "/w"}, {"Labels", {{"a", "img"}, {"b", "img"}}}},
                              {{"Env", {"A=2", "B=3"}}, {"Labels", {{"a", "mine"}}}});
  EXPECT_EQ(m["Env"], json({"A=2", "B=3", "PATH=/p"}));
  EXPECT_EQ(m["Cmd"], json({"img"}));
  EXPECT_EQ(m["Entrypoint"], json({"/ep"}));
  EXPECT_EQ(m["User"], "nobody");
  EXPECT_EQ(m["WorkingDir"], "/w");
  EXPECT_EQ(m["Labels"], json({{"a", "mine"}, {"b", "img"}}));
}

TEST_F(Spec, MergeEntrypointRules) {
  json image = {{"Cmd", {"img-cmd"}}, {"Entrypoint", {"/img-ep"}}};
  // A new entrypoint drops the image's Cmd.
  json a = merge_image_config(image, {{"Entrypoint", "/mine"}});
  EXPECT_EQ(a["Entrypoint"], json({"/mine"}));
  EXPECT_TRUE(a["Cmd"].is_null());
  // Cmd alone keeps the image's entrypoint.
  json b = merge_image_config(image, {{"Cmd", {"x"}}});
  EXPECT_EQ(b["Entrypoint"], json({"/img-ep"}));
  EXPECT_EQ(b["Cmd"], json({"x"}));
  // --entrypoint "" resets the image's entrypoint; the Cmd given runs as is.
  json c = merge_image_config(image, {{"Entrypoint", {""}}, {"Cmd", {"echo", "hi"}}});
  EXPECT_TRUE(c["Entrypoint"].is_null());
  EXPECT_EQ(c["Cmd"], json({"echo", "hi"}));
  EXPECT_EQ(error_of([] { merge_image_config(json(), json::object()); }), "No command specified");
  EXPECT_EQ(error_of([&] { merge_image_config(image, {{"Entrypoint", {""}}}); }), "No command specified");
}

TEST_F(Spec, ProcessDefaults) {
  json s = build();
  EXPECT_EQ(s["ociVersion"], "1.0.2-dev");
  EXPECT_EQ(s["root"], json({{"path", in_.rootfs}, {"readonly", false}}));
  const json& p = s["process"];
  EXPECT_EQ(p["args"], json({"sh"}));
  EXPECT_EQ(p["env"], json({"PATH=/img/bin", "HOSTNAME=0123456789ab", "FOO=bar"}));
  EXPECT_EQ(p["cwd"], "/");
  EXPECT_EQ(p["terminal"], false);
  EXPECT_EQ(p["user"], json({{"uid", 0}, {"gid", 0}, {"additionalGids", {0, 10}}}));
  EXPECT_EQ(p["capabilities"]["bounding"].size(), 14u);
  EXPECT_EQ(p["capabilities"]["effective"], p["capabilities"]["bounding"]);
  EXPECT_FALSE(p["capabilities"].contains("inheritable"));
  EXPECT_FALSE(p["capabilities"].contains("ambient"));
  EXPECT_FALSE(p.contains("noNewPrivileges"));
  EXPECT_FALSE(p.contains("rlimits"));
  EXPECT_EQ(p["oomScoreAdj"], 0);
  EXPECT_EQ(s["hostname"], "0123456789ab");
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/berth/" + kId);
  EXPECT_EQ(namespace_types(s), std::vector<std::string>({"mount", "network", "uts", "pid", "ipc"}));
  EXPECT_EQ(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_THAT(s["linux"]["maskedPaths"], Contains("/proc/kcore"));
  EXPECT_THAT(s["linux"]["readonlyPaths"], Contains("/proc/sys"));
  EXPECT_EQ(s["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"], "0");
  EXPECT_EQ(s["linux"]["resources"]["devices"][0], json({{"allow", false}, {"access", "rwm"}}));
}

TEST_F(Spec, EnvPathDefaultTtyAndUnset) {
  in_.image_config = {{"Cmd", {"sh"}}};
  in_.config = {{"Tty", true}, {"Env", {"HOSTNAME"}}, {"Hostname", "box"}, {"Domainname", "example.org"}};
  json s = build();
  EXPECT_EQ(s["process"]["env"],
            json({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}));
  EXPECT_EQ(s["process"]["terminal"], true);
  EXPECT_EQ(s["hostname"], "box");
  EXPECT_EQ(s["linux"]["sysctl"]["kernel.domainname"], "example.org");
}

TEST_F(Spec, UserAndWorkingDir) {
  in_.config["User"] = "nobody";
  in_.config["WorkingDir"] = "/srv/app/";
  in_.host_config["GroupAdd"] = {"wheel", "123"};
  json s = build();
  EXPECT_EQ(s["process"]["user"], json({{"uid", 65534}, {"gid", 65534}, {"additionalGids", {65534, 10, 123}}}));
  EXPECT_EQ(s["process"]["cwd"], "/srv/app");
  // Non-root: only the bounding set, as execve would leave a non-root process.
  EXPECT_EQ(s["process"]["capabilities"].size(), 1u);
  in_.config["User"] = "ghost";
  EXPECT_EQ(error_of([&] { build(); }), "unable to find user ghost: no matching entries in passwd file");
  in_.config["User"] = "";
  in_.config["WorkingDir"] = "rel";
  EXPECT_THAT(error_of([&] { build(); }), HasSubstr("needs to be an absolute path"));
}

TEST_F(Spec, DefaultMountsThenNetworkFilesThenUserMounts) {
  in_.host_config["Binds"] = {dir_.path() + ":/data:ro"};
  in_.host_config["Tmpfs"] = {{"/run", "size=1m"}};
  json s = build();
  std::vector<std::string> dsts;
  for (const auto& m : s["mounts"]) dsts.push_back(m["destination"]);
  EXPECT_EQ(dsts, std::vector<std::string>({"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue",
                                            "/dev/shm", "/data", "/run", "/etc/resolv.conf", "/etc/hostname",
                                            "/etc/hosts"}));
  EXPECT_EQ(mount_at(s, "/dev/shm")["options"], json({"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}));
  EXPECT_EQ(mount_at(s, "/etc/hosts"),
            json({{"destination", "/etc/hosts"}, {"type", "bind"}, {"source", in_.hosts_path}, {"options", {"rbind", "rprivate"}}}));
  EXPECT_EQ(mount_at(s, "/sys")["options"], json({"nosuid", "noexec", "nodev", "ro"}));
}

TEST_F(Spec, UserMountReplacesDefaultAndNetworkFile) {
  in_.host_config["Binds"] = {dir_.path() + "/hosts:/etc/hosts:ro"};
  in_.host_config["Tmpfs"] = {{"/dev/shm", "size=1m"}};
  in_.host_config["ShmSize"] = 1 << 20;
  json s = build();
  EXPECT_EQ(mount_at(s, "/etc/hosts")["options"], json({"rbind", "ro", "rprivate"}));
  EXPECT_EQ(mount_at(s, "/dev/shm")["source"], "tmpfs");
  int shm = 0;
  for (const auto& m : s["mounts"]) shm += m["destination"] == "/dev/shm";
  EXPECT_EQ(shm, 1);
}

TEST_F(Spec, ShmPathAndIpcModes) {
  in_.shm_path = dir_.path();
  EXPECT_EQ(mount_at(build(), "/dev/shm")["source"], dir_.path());
  in_.shm_path.clear();
  in_.host_config["IpcMode"] = "none";
  EXPECT_TRUE(mount_at(build(), "/dev/shm").is_null());
  in_.host_config["IpcMode"] = "host";
  json s = build();
  EXPECT_EQ(mount_at(s, "/dev/shm")["source"], "/dev/shm");
  EXPECT_THAT(namespace_types(s), Not(Contains("ipc")));
}

TEST_F(Spec, ReadonlyRootfs) {
  in_.host_config["ReadonlyRootfs"] = true;
  json s = build();
  EXPECT_EQ(s["root"]["readonly"], true);
  EXPECT_EQ(mount_at(s, "/proc")["options"], json({"nosuid", "noexec", "nodev"}));
  EXPECT_EQ(mount_at(s, "/etc/hosts")["options"], json({"rbind", "ro", "rprivate"}));
}

TEST_F(Spec, PrivilegedSecurity) {
  in_.host_config["Privileged"] = true;
  json s = build();
  EXPECT_FALSE(s["linux"].contains("seccomp"));
  EXPECT_TRUE(s["linux"]["maskedPaths"].empty());
  EXPECT_TRUE(s["linux"]["readonlyPaths"].empty());
  EXPECT_EQ(mount_at(s, "/sys")["options"], json({"nosuid", "noexec", "nodev"}));
  EXPECT_EQ(mount_at(s, "/sys/fs/cgroup")["options"], json({"nosuid", "noexec", "nodev", "relatime"}));
  EXPECT_THAT(s["process"]["capabilities"]["bounding"], Contains("CAP_SYS_ADMIN"));
  EXPECT_EQ(s["linux"]["resources"]["devices"], json::array({{{"allow", true}, {"access", "rwm"}}}));
  EXPECT_FALSE(s["linux"]["devices"].empty());
}

TEST_F(Spec, SecurityOpts) {
  in_.host_config["SecurityOpt"] = {"no-new-privileges:true", "apparmor=unconfined", "seccomp=unconfined"};
  json s = build();
  EXPECT_EQ(s["process"]["noNewPrivileges"], true);
  EXPECT_FALSE(s["linux"].contains("seccomp"));
  in_.host_config["SecurityOpt"] = {
      R"(seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]})"};
  s = build();
  EXPECT_EQ(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
  EXPECT_EQ(s["linux"]["seccomp"]["syscalls"][0]["names"], json({"mkdir"}));
  in_.host_config["SecurityOpt"] = {"bogus"};
  EXPECT_EQ(error_of([&] { build(); }), "invalid --security-opt 1: \"bogus\"");
  in_.host_config["SecurityOpt"] = {"no-new-privileges=maybe"};
  EXPECT_EQ(error_of([&] { build(); }), "invalid --security-opt 2: \"no-new-privileges=maybe\"");
}

TEST_F(Spec, CapAddFiltersSeccomp) {
  in_.host_config["CapAdd"] = {"SYS_ADMIN"};
  in_.host_config["CapDrop"] = {"net_raw"};
  json s = build();
  EXPECT_THAT(s["process"]["capabilities"]["bounding"], Contains("CAP_SYS_ADMIN"));
  EXPECT_THAT(s["process"]["capabilities"]["bounding"], Not(Contains("CAP_NET_RAW")));
  bool mount_allowed = false;
  for (const auto& r : s["linux"]["seccomp"]["syscalls"])
    for (const auto& n : r["names"]) mount_allowed |= n == "mount";
  EXPECT_TRUE(mount_allowed);
  in_.host_config["CapAdd"] = {"NOT_A_CAP"};
  EXPECT_EQ(error_of([&] { build(); }), "unknown capability: \"CAP_NOT_A_CAP\"");
}

TEST_F(Spec, NamespaceModes) {
  in_.host_config = {{"NetworkMode", "host"}, {"PidMode", "host"}, {"UTSMode", "host"}};
  json s = build();
  EXPECT_EQ(namespace_types(s), std::vector<std::string>({"mount", "ipc"}));
  EXPECT_FALSE(s.contains("hostname"));
  EXPECT_EQ(s["process"]["env"][1], "HOSTNAME=the-host");
  EXPECT_FALSE(s["linux"].contains("sysctl"));
  in_.host_config = {{"NetworkMode", "none"}, {"CgroupnsMode", "private"}};
  EXPECT_EQ(namespace_types(build()), std::vector<std::string>({"mount", "network", "uts", "pid", "ipc", "cgroup"}));
  // The engine prepares the namespace of a bridge network or another container; the spec joins it.
  in_.host_config = {{"NetworkMode", "container:abc"}};
  in_.netns_path = "/proc/42/ns/net";
  json joined = build();
  EXPECT_EQ(joined["linux"]["namespaces"][1], json({{"type", "network"}, {"path", "/proc/42/ns/net"}}));
  in_.netns_path.clear();
  in_.host_config = {{"PidMode", "weird"}};
  EXPECT_EQ(error_of([&] { build(); }), "invalid PID mode: weird");
}

TEST_F(Spec, InitResourcesAndMisc) {
  in_.init_path = "/usr/bin/docker-init";
  in_.host_config = {{"Init", true},          {"Memory", 64 << 20},        {"NanoCpus", 1500000000},
                     {"PidsLimit", 50},       {"CgroupParent", "custom"},  {"OomScoreAdj", 500},
                     {"Sysctls", {{"net.ipv4.ip_unprivileged_port_start", "1024"}}},
                     {"Ulimits", {{{"Name", "nofile"}, {"Soft", 100}, {"Hard", 200}}}},
                     {"MaskedPaths", json::array()}, {"Annotations", {{"a", "b"}}}};
  json s = build();
  EXPECT_EQ(s["process"]["args"], json({"/sbin/docker-init", "--", "sh"}));
  EXPECT_EQ(mount_at(s, "/sbin/docker-init"),
            json({{"destination", "/sbin/docker-init"}, {"type", "bind"}, {"source", "/usr/bin/docker-init"}, {"options", {"bind", "ro"}}}));
  EXPECT_EQ(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(s["linux"]["resources"]["memory"]["swap"], 128 << 20);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["quota"], 150000);
  EXPECT_EQ(s["linux"]["resources"]["pids"]["limit"], 50);
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/custom/" + kId);
  EXPECT_EQ(s["process"]["oomScoreAdj"], 500);
  EXPECT_EQ(s["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"], "1024");
  EXPECT_EQ(s["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
  EXPECT_TRUE(s["linux"]["maskedPaths"].empty());
  EXPECT_EQ(s["annotations"], json({{"a", "b"}}));
  in_.host_config = {{"OomScoreAdj", 5000}};
  EXPECT_EQ(error_of([&] { build(); }), "Invalid value 5000, range for oom score adj is [-1000, 1000]");
}

TEST_F(Spec, ParsesAsAnOciSpec) {
  in_.host_config["Binds"] = {dir_.path() + ":/data"};
  EXPECT_NO_THROW(oci::parse_spec(build().dump()));
}

// ---- running the generated spec with real runtimes ----

// A busybox rootfs as small images have: one static binary and symlinks.
void make_busybox_rootfs(const std::string& root) {
  for (const char* d : {"bin", "etc", "proc", "sys", "dev", "tmp", "root"}) mkdir_all(path_join(root, d));
  run_capture({"cp", "/bin/busybox", path_join(root, "bin/busybox")});
  for (const char* app : {"sh", "id", "cat", "echo", "grep", "wc", "hostname", "unshare", "ls", "true", "mount"})
    if (::symlink("busybox", path_join(root, std::string("bin/") + app).c_str()) != 0) fail_errno("symlink {}", app);
  write_file(path_join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
  write_file(path_join(root, "etc/group"), "root:x:0:\nwheel:x:10:root\nnogroup:x:65534:\n");
}

std::vector<std::string> runtimes() {
  std::vector<std::string> out;
  if (path_exists("/usr/sbin/runc")) out.push_back("/usr/sbin/runc");
  char self[PATH_MAX] = {};
  if (::readlink("/proc/self/exe", self, sizeof self - 1) > 0) {
    std::string ours = path_join(std::string(self).substr(0, std::string(self).rfind('/')), "berth-runtime");
    if (path_exists(ours)) out.push_back(ours);
  }
  return out;
}

class SpecRun : public Spec {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!path_exists("/bin/busybox")) GTEST_SKIP() << "needs busybox-static";
    if (runtimes().empty()) GTEST_SKIP() << "no OCI runtime";
    Spec::SetUp();
    make_busybox_rootfs(in_.rootfs);
    write_file(dir_ / "hostname", "box\n");
    in_.image_config = json();
    // Per process: ctest runs other SpecRun tests in parallel, with the same id.
    parent_ = fmt::format("berth-spec-test-{}", ::getpid());
    in_.cgroup_parent_default = "/" + parent_;
  }
  void TearDown() override {
    // The runtimes remove the containers' cgroups but not the parent.
    if (DIR* d = ::opendir("/sys/fs/cgroup")) {
      while (auto* e = ::readdir(d)) ::rmdir(fmt::format("/sys/fs/cgroup/{}/{}", e->d_name, parent_).c_str());
      ::closedir(d);
    }
    ::rmdir(("/sys/fs/cgroup/" + parent_).c_str());
  }
  std::string parent_;

  // Runs the spec built from in_ with `runtime run`; returns its stdout.
  ProcessResult run(const std::string& runtime, const std::string& script) {
    in_.config["Cmd"] = {"sh", "-c", script};
    json spec = build_oci_spec(in_);
    std::string bundle = dir_ / "bundle";
    mkdir_all(bundle);
    write_file(path_join(bundle, "config.json"), spec.dump(2));
    std::string name = "spec-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++);
    return run_process({runtime, "--root", dir_ / "state", "run", "--bundle", bundle, name});
  }

  int counter_ = 0;
};

TEST_F(SpecRun, DefaultContainerLooksLikeDockers) {
  for (const auto& rt : runtimes()) {
    SCOPED_TRACE(rt);
    auto r = run(rt,
                 "id; grep -E '^(CapBnd|CapEff|CapInh|Seccomp|NoNewPrivs):' /proc/self/status; "
                 "echo masked=$(wc -c < /proc/timer_list); hostname; cat /etc/hostname; echo HOSTNAME=$HOSTNAME; "
                 "unshare -n true && echo unshare=ok || echo unshare=denied; "
                 "mount -t tmpfs t /tmp && echo mount=ok || echo mount=denied");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("uid=0(root) gid=0(root) groups=0(root),10(wheel)"));
    EXPECT_THAT(r.out, HasSubstr("CapBnd:\t00000000a80425fb"));
    EXPECT_THAT(r.out, HasSubstr("CapEff:\t00000000a80425fb"));
    EXPECT_THAT(r.out, HasSubstr("CapInh:\t0000000000000000"));
    EXPECT_THAT(r.out, HasSubstr("Seccomp:\t2"));
    EXPECT_THAT(r.out, HasSubstr("NoNewPrivs:\t0"));
    EXPECT_THAT(r.out, HasSubstr("masked=0"));
    EXPECT_THAT(r.out, HasSubstr("0123456789ab\nbox\n"));
    EXPECT_THAT(r.out, HasSubstr("HOSTNAME=0123456789ab"));
    EXPECT_THAT(r.out, HasSubstr("unshare=denied"));  // seccomp refuses namespace flags
    EXPECT_THAT(r.out, HasSubstr("mount=denied"));
  }
}

TEST_F(SpecRun, NobodyAndNoNewPrivileges) {
  in_.config["User"] = "nobody";
  in_.host_config["SecurityOpt"] = {"no-new-privileges"};
  for (const auto& rt : runtimes()) {
    SCOPED_TRACE(rt);
    auto r = run(rt, "id; grep -E '^(CapBnd|CapEff|NoNewPrivs):' /proc/self/status");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("uid=65534(nobody) gid=65534(nogroup)"));
    EXPECT_THAT(r.out, HasSubstr("CapBnd:\t00000000a80425fb"));
    EXPECT_THAT(r.out, HasSubstr("CapEff:\t0000000000000000"));
    EXPECT_THAT(r.out, HasSubstr("NoNewPrivs:\t1"));
  }
}

TEST_F(SpecRun, CapAddAndBindsAndTmpfs) {
  write_file(dir_ / "shared.txt", "from-host\n");
  in_.host_config = {{"CapAdd", {"SYS_ADMIN"}},
                     {"Binds", {dir_.path() + "/shared.txt:/shared.txt:ro"}},
                     {"Tmpfs", {{"/run", "size=1m"}}},
                     {"ReadonlyRootfs", true}};
  for (const auto& rt : runtimes()) {
    SCOPED_TRACE(rt);
    auto r = run(rt,
                 "cat /shared.txt; grep -E '^CapBnd:' /proc/self/status; "
                 "echo x > /run/ok && echo run=writable; echo x > /rootfile 2>/dev/null || echo root=readonly; "
                 "unshare -n true && echo unshare=ok");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("from-host"));
    EXPECT_THAT(r.out, HasSubstr("CapBnd:\t00000000a82425fb"));
    EXPECT_THAT(r.out, HasSubstr("run=writable"));
    EXPECT_THAT(r.out, HasSubstr("root=readonly"));
    EXPECT_THAT(r.out, HasSubstr("unshare=ok"));
  }
}

TEST_F(SpecRun, Privileged) {
  in_.host_config = {{"Privileged", true}};
  for (const auto& rt : runtimes()) {
    SCOPED_TRACE(rt);
    auto r = run(rt, "grep -E '^(Seccomp|CapBnd):' /proc/self/status; ls /dev/null && echo devs=ok");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("Seccomp:\t0"));
    EXPECT_THAT(r.out, HasSubstr("devs=ok"));
    EXPECT_THAT(r.out, Not(HasSubstr("CapBnd:\t00000000a80425fb")));
  }
}

}  // namespace
}  // namespace berth::engine
