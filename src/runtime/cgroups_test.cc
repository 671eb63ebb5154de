// Cgroups tests. The pure parts (layout detection from sample mountinfo for
// v1, v2 and hybrid hosts, path mapping, conversions, device rules and the
// BPF program's semantics) run anywhere; the v2 writers run against a fake
// tree in a temp dir; the Live tests drive the real hierarchies of this
// host (root only) under unique "berth-test-<pid>-<n>" cgroups.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include <gtest/gtest.h>
#include <linux/magic.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "runtime/cgroup_internal.h"
#include "runtime/cgroups.h"
#include "base/test_util.h"

namespace berth::runtime::cg {
namespace {

using nlohmann::json;

// ------------------------------------------------------------ samples

// This host: separate cpu and cpuacct, systemd named hierarchy, cgroup2 at
// /sys/fs/cgroup/unified holding only hugetlb.
const char kHybridMountinfo[] =
    "23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A classic v1 host (Debian 10): co-mounted controllers, a bind mount of
// the memory hierarchy elsewhere, a foreign named hierarchy.
const char kV1Mountinfo[] =
    "25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup "
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct\n"
    "30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:13 - cgroup cgroup rw,net_cls,net_prio\n"
    "31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory\n"
    "32 25 0:29 / /sys/fs/cgroup/devices rw,nosuid shared:15 - cgroup cgroup rw,devices\n"
    "33 25 0:30 / /sys/fs/cgroup/pids rw,nosuid shared:16 - cgroup cgroup rw,pids\n"
    "34 25 0:31 / /sys/fs/cgroup/hugetlb rw,nosuid shared:17 - cgroup cgroup rw,hugetlb\n"
    "35 25 0:32 / /sys/fs/cgroup/freezer rw,nosuid shared:18 - cgroup cgroup rw,freezer\n"
    "36 25 0:33 / /sys/fs/cgroup/cpuset rw,nosuid shared:19 - cgroup cgroup rw,cpuset\n"
    "37 25 0:34 / /sys/fs/cgroup/blkio rw,nosuid shared:20 - cgroup cgroup rw,blkio\n"
    "38 25 0:35 / /sys/fs/cgroup/perf_event rw,nosuid shared:21 - cgroup cgroup rw,perf_event\n"
    "39 25 0:36 / /sys/fs/cgroup/foo rw,nosuid - cgroup cgroup rw,name=foo\n"
    "90 60 0:28 /docker /mnt/memory rw,relatime - cgroup cgroup rw,memory\n";

// A pure v2 host (Debian 12); the second cgroup2 line is a bind mount.
const char kV2Mountinfo[] =
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "91 60 0:26 /system.slice /mnt/cg rw,relatime - cgroup2 cgroup2 rw\n";

Layout layout_of(const char* mountinfo, const std::string& v2_controllers) {
  return detect_layout(parse_mountinfo(mountinfo), [&](const std::string&) { return v2_controllers; });
}

const Hierarchy& at(const Layout& l, std::string_view controller) {
  int i = l.find(controller);
  if (i < 0) throw Error("no hierarchy for " + std::string(controller));
  return l.hierarchies[i];
}

// ------------------------------------------------------------ layout

TEST(CgroupLayout, Hybrid) {
  Layout l = layout_of(kHybridMountinfo, "hugetlb\n");
  EXPECT_EQ(l.mode(), "hybrid");
  ASSERT_EQ(l.hierarchies.size(), 10u);
  EXPECT_EQ(at(l, "memory").version, Version::kV1);
  EXPECT_EQ(at(l, "memory").mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(at(l, "cpu").mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(at(l, "cpuacct").mount_point, "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(at(l, "name=systemd").mount_point, "/sys/fs/cgroup/systemd");
  EXPECT_EQ(at(l, "hugetlb").version, Version::kV2);
  EXPECT_EQ(at(l, "hugetlb").mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(l.find("hugetlb"), l.unified());
  EXPECT_EQ(l.find("net_cls"), -1);
  EXPECT_EQ(l.find("io"), -1);
}

TEST(CgroupLayout, PureV1) {
  Layout l = layout_of(kV1Mountinfo, "");
  EXPECT_EQ(l.mode(), "v1");
  EXPECT_EQ(l.unified(), -1);
  // The bind mount of memory, the tmpfs and the foreign name=foo do not count.
  EXPECT_EQ(l.hierarchies.size(), 11u);
  EXPECT_EQ(at(l, "cpu").mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(l.find("cpu"), l.find("cpuacct"));
  EXPECT_EQ(l.find("net_cls"), l.find("net_prio"));
  EXPECT_EQ(at(l, "memory").mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(at(l, "hugetlb").version, Version::kV1);
  EXPECT_EQ(at(l, "name=systemd").controllers, std::vector<std::string>{"name=systemd"});
  EXPECT_EQ(l.find("name=foo"), -1);
}

TEST(CgroupLayout, PureV2) {
  Layout l = layout_of(kV2Mountinfo, "cpuset cpu io memory hugetlb pids rdma misc\n");
  EXPECT_EQ(l.mode(), "v2");
  ASSERT_EQ(l.hierarchies.size(), 1u);
  EXPECT_EQ(l.unified(), 0);
  EXPECT_EQ(l.hierarchies[0].mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(l.find("memory"), 0);
  EXPECT_EQ(l.find("io"), 0);
  EXPECT_EQ(l.find("blkio"), -1);
  EXPECT_EQ(l.find("devices"), -1);  // BPF, not a controller
}

bool fs_magic(const char* path, long magic) {
  struct statfs st;
  return ::statfs(path, &st) == 0 && static_cast<long>(st.f_type) == magic;
}

TEST(CgroupLayout, ThisHost) {
  // Expectations from statfs, independent of the mountinfo parser.
  if (!fs_magic("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC) ||
      !fs_magic("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
    GTEST_SKIP() << "not the hybrid layout this test describes";
  Layout l = detect_host_layout();
  EXPECT_EQ(l.mode(), "hybrid");
  EXPECT_EQ(at(l, "memory").version, Version::kV1);
  EXPECT_EQ(at(l, "memory").mount_point, "/sys/fs/cgroup/memory");
  EXPECT_NE(l.find("cpu"), l.find("cpuacct"));
  ASSERT_GE(l.unified(), 0);
  EXPECT_EQ(l.hierarchies[l.unified()].mount_point, "/sys/fs/cgroup/unified");
  std::string offered = read_file("/sys/fs/cgroup/unified/cgroup.controllers");
  if (trim(offered) == "hugetlb") {
    EXPECT_EQ(l.find("hugetlb"), l.unified());
  }
}

// ------------------------------------------------------------ paths

TEST(CgroupPath, ParseProcCgroup) {
  auto own = parse_proc_cgroup("9:name=systemd:/\n4:memory:/process_api/fe3c\n2:cpu,cpuacct:/a:b\n0::/x.slice\n");
  EXPECT_EQ(own["memory"], "/process_api/fe3c");
  EXPECT_EQ(own["cpu"], "/a:b");
  EXPECT_EQ(own["cpuacct"], "/a:b");
  EXPECT_EQ(own["name=systemd"], "/");
  EXPECT_EQ(own[""], "/x.slice");
}

TEST(CgroupPath, ExpandSlice) {
  EXPECT_EQ(expand_slice("system.slice"), "/system.slice");
  EXPECT_EQ(expand_slice("a-b-c.slice"), "/a.slice/a-b.slice/a-b-c.slice");
  EXPECT_EQ(expand_slice("user-1000.slice"), "/user.slice/user-1000.slice");
  EXPECT_EQ(expand_slice("-.slice"), "/");
  for (const char* bad : {"a--b.slice", "-a.slice", "foo", "a/b.slice", ".slice", "a-.slice"})
    EXPECT_THROW(expand_slice(bad), Error) << bad;
}

TEST(CgroupPath, InnerPathSystemd) {
  EXPECT_EQ(inner_path("system.slice:docker:abc", "id", true), "/system.slice/docker-abc.scope");
  EXPECT_EQ(inner_path("", "ctr", true), "/system.slice/runc-ctr.scope");
  EXPECT_EQ(inner_path("user-1000.slice:pre:x", "id", true), "/user.slice/user-1000.slice/pre-x.scope");
  EXPECT_EQ(inner_path("machine.slice::x", "id", true), "/machine.slice/x.scope");
  EXPECT_EQ(inner_path(":p:x", "id", true), "/system.slice/p-x.scope");
  EXPECT_EQ(inner_path("-.slice:p:x", "id", true), "/p-x.scope");
  EXPECT_EQ(inner_path("a.slice:p:a-b.slice", "id", true), "/a.slice/a-b.slice");
  EXPECT_THROW(inner_path("a.slice:b", "id", true), Error);
  EXPECT_THROW(inner_path("/a/b", "id", true), Error);
  EXPECT_THROW(inner_path("a.slice:p:x/y", "id", true), Error);
}

TEST(CgroupPath, InnerPathCgroupfs) {
  EXPECT_EQ(inner_path("", "ctr", false), "ctr");
  EXPECT_EQ(inner_path("/a/b/../c", "id", false), "/a/c");
  EXPECT_EQ(inner_path("/../../x", "id", false), "/x");
  EXPECT_EQ(inner_path("../../x", "id", false), "x");
  EXPECT_EQ(inner_path("a/./b//", "id", false), "a/b");
  EXPECT_EQ(inner_path("system.slice:docker:abc", "id", false), "system.slice:docker:abc");
  EXPECT_THROW(inner_path("..", "id", false), Error);
}

std::map<std::string, std::string> dirs_by_controller(const Layout& l, const std::vector<std::string>& dirs) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < dirs.size(); ++i) {
    if (l.hierarchies[i].version == Version::kV2) out[""] = dirs[i];
    for (const auto& c : l.hierarchies[i].controllers) out[c] = dirs[i];
  }
  return out;
}

TEST(CgroupPath, MapDirsHybrid) {
  Layout l = layout_of(kHybridMountinfo, "hugetlb");
  auto own = parse_proc_cgroup("4:memory:/process_api/fe3c\n1:cpu:/\n0::/\n");
  auto abs = dirs_by_controller(l, map_dirs(l, own, "/foo/bar"));
  EXPECT_EQ(abs["memory"], "/sys/fs/cgroup/memory/foo/bar");
  EXPECT_EQ(abs["cpuacct"], "/sys/fs/cgroup/cpuacct/foo/bar");
  EXPECT_EQ(abs["name=systemd"], "/sys/fs/cgroup/systemd/foo/bar");
  EXPECT_EQ(abs[""], "/sys/fs/cgroup/unified/foo/bar");
  EXPECT_EQ(abs["hugetlb"], "/sys/fs/cgroup/unified/foo/bar");
  // Relative: below the own cgroup of each hierarchy (nested memory here).
  auto rel = dirs_by_controller(l, map_dirs(l, own, "ctr"));
  EXPECT_EQ(rel["memory"], "/sys/fs/cgroup/memory/process_api/fe3c/ctr");
  EXPECT_EQ(rel["cpu"], "/sys/fs/cgroup/cpu/ctr");
  EXPECT_EQ(rel["pids"], "/sys/fs/cgroup/pids/ctr");  // missing from own: root
  EXPECT_EQ(rel[""], "/sys/fs/cgroup/unified/ctr");
  // Systemd form: absolute in every hierarchy.
  auto sd = dirs_by_controller(l, map_dirs(l, own, inner_path("system.slice:docker:abc", "x", true)));
  EXPECT_EQ(sd["memory"], "/sys/fs/cgroup/memory/system.slice/docker-abc.scope");
  EXPECT_EQ(sd[""], "/sys/fs/cgroup/unified/system.slice/docker-abc.scope");
}

TEST(CgroupPath, MapDirsV1) {
  Layout l = layout_of(kV1Mountinfo, "");
  auto own = parse_proc_cgroup("5:memory:/user.slice\n3:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/s.scope\n");
  auto dirs = map_dirs(l, own, "ctr");
  auto m = dirs_by_controller(l, dirs);
  EXPECT_EQ(m["cpu"], "/sys/fs/cgroup/cpu,cpuacct/user.slice/ctr");
  EXPECT_EQ(m["name=systemd"], "/sys/fs/cgroup/systemd/user.slice/s.scope/ctr");
  EXPECT_EQ(m["devices"], "/sys/fs/cgroup/devices/ctr");
}

TEST(CgroupPath, MapDirsV2AndMountRoot) {
  Layout l = layout_of(kV2Mountinfo, "memory");
  auto own = parse_proc_cgroup("0::/user.slice/user-0.slice/session-1.scope\n");
  // Relative v2 paths go below the parent of the own (populated) cgroup.
  EXPECT_EQ(map_dirs(l, own, "ctr")[0], "/sys/fs/cgroup/user.slice/user-0.slice/ctr");
  EXPECT_EQ(map_dirs(l, own, "/a/b")[0], "/sys/fs/cgroup/a/b");
  // A mount that shows a subtree: own paths are relative to its root.
  Layout nested = layout_of("90 60 0:28 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "");
  auto own2 = parse_proc_cgroup("4:memory:/docker/abc/sub\n");
  EXPECT_EQ(map_dirs(nested, own2, "ctr")[0], "/sys/fs/cgroup/memory/sub/ctr");
}

// ------------------------------------------------------------ conversions

TEST(CgroupConvert, SharesToWeight) {
  EXPECT_EQ(cpu_shares_to_weight(0), 0u);
  EXPECT_EQ(cpu_shares_to_weight(2), 1u);
  EXPECT_EQ(cpu_shares_to_weight(1024), 39u);
  EXPECT_EQ(cpu_shares_to_weight(262144), 10000u);
  EXPECT_EQ(cpu_shares_to_weight(1 << 30), 10000u);  // clamped like the kernel clamps shares
}

TEST(CgroupConvert, BlkioToIoWeight) {
  EXPECT_EQ(blkio_weight_to_io_weight(0), 0u);
  EXPECT_EQ(blkio_weight_to_io_weight(10), 1u);
  EXPECT_EQ(blkio_weight_to_io_weight(500), 4950u);
  EXPECT_EQ(blkio_weight_to_io_weight(1000), 10000u);
}

TEST(CgroupConvert, MemorySwap) {
  EXPECT_EQ(memory_swap_to_v2(0, 100), 0);
  EXPECT_EQ(memory_swap_to_v2(-1, 100), -1);
  EXPECT_EQ(memory_swap_to_v2(0, -1), -1);
  EXPECT_EQ(memory_swap_to_v2(300, 100), 200);
  EXPECT_EQ(memory_swap_to_v2(100, 100), 0);
  EXPECT_THROW(memory_swap_to_v2(50, 100), Error);
  EXPECT_THROW(memory_swap_to_v2(100, 0), Error);
}

TEST(CgroupConvert, HugepageSizeName) {
  EXPECT_EQ(hugepage_size_name(2097152), "2MB");
  EXPECT_EQ(hugepage_size_name(1ULL << 30), "1GB");
  EXPECT_EQ(hugepage_size_name(65536), "64KB");
  EXPECT_EQ(hugepage_size_name(32ULL << 20), "32MB");
}

TEST(CgroupConvert, FlatKeyed) {
  auto kv = parse_flat_keyed("usage_usec 10\nuser_usec 4\nbogus\nx y\n");
  EXPECT_EQ(kv.size(), 2u);
  EXPECT_EQ(kv["usage_usec"], 10u);
}

// ------------------------------------------------------------ devices

oci::DeviceCgroupRule rule(bool allow, std::string type, std::optional<int64_t> major, std::optional<int64_t> minor,
                           std::string access) {
  oci::DeviceCgroupRule r;
  r.allow = allow;
  r.type = std::move(type);
  r.major = major;
  r.minor = minor;
  r.access = std::move(access);
  return r;
}

std::vector<std::string> lines(const DeviceRuleSet& s) {
  std::vector<std::string> out;
  for (const auto& e : s.exceptions) out.push_back(device_rule_line(e));
  return out;
}

TEST(CgroupDevices, Emulate) {
  auto s = emulate_device_rules({rule(false, "", {}, {}, "rwm"), rule(true, "c", 1, 3, "rwm"),
                                 rule(true, "c", {}, {}, "m"), rule(true, "b", 8, {}, "r")});
  EXPECT_FALSE(s.default_allow);
  EXPECT_EQ(lines(s), (std::vector<std::string>{"c 1:3 rwm", "c *:* m", "b 8:* r"}));

  s = emulate_device_rules({rule(true, "a", {}, {}, "rwm")});
  EXPECT_TRUE(s.default_allow);
  EXPECT_TRUE(s.exceptions.empty());

  // Merged per node; a later deny takes access away again.
  s = emulate_device_rules({rule(true, "c", 1, 3, "rw"), rule(true, "c", 1, 3, "m"), rule(false, "c", 1, 3, "w")});
  EXPECT_EQ(lines(s), std::vector<std::string>{"c 1:3 rm"});
  s = emulate_device_rules({rule(true, "c", 1, 3, "rw"), rule(false, "c", 1, 3, "rwm")});
  EXPECT_TRUE(s.exceptions.empty());

  // "a" resets whatever came before.
  s = emulate_device_rules({rule(true, "c", 1, 3, "rw"), rule(true, "a", {}, {}, "rwm"), rule(false, "c", 1, 5, "w")});
  EXPECT_TRUE(s.default_allow);
  EXPECT_EQ(lines(s), std::vector<std::string>{"c 1:5 w"});

  EXPECT_THROW(emulate_device_rules({rule(true, "c", {}, {}, "m"), rule(false, "c", 1, 3, "m")}), Error);
  EXPECT_THROW(emulate_device_rules({rule(true, "x", 1, 3, "r")}), Error);
  EXPECT_THROW(emulate_device_rules({rule(true, "c", 1, 3, "")}), Error);
  EXPECT_THROW(emulate_device_rules({rule(true, "c", 1, 3, "rx")}), Error);
}

// Runs the subset of eBPF the device filter uses, to check its verdicts
// without a kernel.
int run_filter(const std::vector<bpf_insn>& prog, int type, int access, uint32_t major, uint32_t minor) {
  uint32_t ctx[3] = {static_cast<uint32_t>(access << 16 | type), major, minor};
  uint64_t r[11] = {};
  bool ctx_ptr[11] = {};
  ctx_ptr[1] = true;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const bpf_insn& i = prog[pc];
    uint8_t cls = BPF_CLASS(i.code), op = BPF_OP(i.code);
    uint64_t src = BPF_SRC(i.code) == BPF_X ? r[i.src_reg] : static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    if (cls == BPF_LDX) {
      EXPECT_TRUE(ctx_ptr[i.src_reg]);
      r[i.dst_reg] = ctx[i.off / 4];
      ctx_ptr[i.dst_reg] = false;
    } else if (cls == BPF_ALU) {
      uint32_t a = static_cast<uint32_t>(r[i.dst_reg]), b = static_cast<uint32_t>(src);
      if (op == BPF_MOV) a = b;
      else if (op == BPF_AND) a &= b;
      else if (op == BPF_RSH) a >>= b;
      else ADD_FAILURE() << "unexpected alu op " << int(op);
      r[i.dst_reg] = a;
      ctx_ptr[i.dst_reg] = false;
    } else if (cls == BPF_JMP && op == BPF_EXIT) {
      return static_cast<int>(r[0]);
    } else if (cls == BPF_JMP && op == BPF_JNE) {
      if (r[i.dst_reg] != src) pc += i.off;
    } else {
      ADD_FAILURE() << "unexpected insn " << int(i.code);
      return -1;
    }
  }
  ADD_FAILURE() << "fell off the program";
  return -1;
}

TEST(CgroupDevices, FilterProgram) {
  const int C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK;
  const int R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE, M = BPF_DEVCG_ACC_MKNOD;
  auto deny_default = emulate_device_rules({rule(false, "a", {}, {}, "rwm"), rule(true, "c", 1, 3, "rwm"),
                                            rule(true, "c", 1, 9, "r"), rule(true, "c", {}, {}, "m"),
                                            rule(true, "b", 8, {}, "rw")});
  auto p = device_filter_program(deny_default);
  EXPECT_EQ(run_filter(p, C, R | W, 1, 3), 1);
  EXPECT_EQ(run_filter(p, C, M, 1, 3), 1);
  EXPECT_EQ(run_filter(p, C, R, 1, 9), 1);
  EXPECT_EQ(run_filter(p, C, R | W, 1, 9), 0);  // only r allowed
  EXPECT_EQ(run_filter(p, C, M, 4, 7), 1);      // c *:* m
  EXPECT_EQ(run_filter(p, C, R, 4, 7), 0);
  EXPECT_EQ(run_filter(p, B, W, 8, 16), 1);
  EXPECT_EQ(run_filter(p, B, M, 8, 16), 0);
  EXPECT_EQ(run_filter(p, B, R, 1, 3), 0);  // type matters

  auto allow_default = emulate_device_rules({rule(true, "a", {}, {}, "rwm"), rule(false, "c", 1, 5, "w")});
  p = device_filter_program(allow_default);
  EXPECT_EQ(run_filter(p, C, R, 1, 5), 1);
  EXPECT_EQ(run_filter(p, C, W, 1, 5), 0);
  EXPECT_EQ(run_filter(p, B, W, 1, 5), 1);

  EXPECT_EQ(device_filter_program(DeviceRuleSet{}).size(), 8u);  // prologue + "return 0"
}

// ------------------------------------------------------------ v2 on a fake tree

using berth::test::TempDir;

std::string slurp(const std::string& path) { return std::string(trim(read_file(path))); }

TEST(CgroupV2Fake, CreateApplyStatsFreeze) {
  TempDir tmp;
  const std::string root = tmp.path(), dir = root + "/a/ctr";
  write_file(root + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
  write_file(root + "/cgroup.subtree_control", "");
  Layout l;
  l.hierarchies.push_back(Hierarchy{Version::kV2, root, "/", {"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}});
  auto cg = make_cgroup(l, {dir});
  cg->create();
  ASSERT_TRUE(path_exists(dir));
  EXPECT_EQ(slurp(root + "/cgroup.subtree_control"), "+cpuset +cpu +io +memory +hugetlb +pids");
  EXPECT_EQ(cg->paths(), (std::map<std::string, std::string>{{"", dir}}));

  for (const char* f : {"memory.max", "memory.swap.max", "memory.low", "memory.high", "cpu.weight", "cpu.max",
                        "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "io.max", "hugetlb.2MB.max"})
    write_file(dir + "/" + f, "");
  oci::Resources res;
  res.memory.emplace();
  res.memory->limit = 100 << 20;
  res.memory->swap = 300 << 20;
  res.memory->reservation = 50 << 20;
  res.cpu.emplace();
  res.cpu->shares = 1024;
  res.cpu->quota = 50000;
  res.cpu->cpus = "0-1";
  res.cpu->mems = "0";
  res.pids_limit = -1;
  res.block_io.emplace();
  res.block_io->weight = 500;
  res.block_io->throttle_write_iops.push_back({8, 0, 300});
  res.hugepage_limits.push_back({"2MB", 4 << 20});
  res.unified["memory.high"] = "90000000";
  cg->apply(res);
  EXPECT_EQ(slurp(dir + "/memory.max"), "104857600");
  EXPECT_EQ(slurp(dir + "/memory.swap.max"), "209715200");  // swap = (memory+swap) - memory
  EXPECT_EQ(slurp(dir + "/memory.low"), "52428800");
  EXPECT_EQ(slurp(dir + "/memory.high"), "90000000");
  EXPECT_EQ(slurp(dir + "/cpu.weight"), "39");
  EXPECT_EQ(slurp(dir + "/cpu.max"), "50000 100000");
  EXPECT_EQ(slurp(dir + "/cpuset.cpus"), "0-1");
  EXPECT_EQ(slurp(dir + "/pids.max"), "max");
  EXPECT_EQ(slurp(dir + "/io.weight"), "4950");
  EXPECT_EQ(slurp(dir + "/io.max"), "8:0 wiops=300");
  EXPECT_EQ(slurp(dir + "/hugetlb.2MB.max"), "4194304");

  // Unlimited memory lifts swap too; quota -1 is "max".
  oci::Resources unlimited;
  unlimited.memory.emplace();
  unlimited.memory->limit = -1;
  unlimited.cpu.emplace();
  unlimited.cpu->quota = -1;
  unlimited.cpu->period = 200000;
  cg->apply(unlimited);
  EXPECT_EQ(slurp(dir + "/memory.max"), "max");
  EXPECT_EQ(slurp(dir + "/memory.swap.max"), "max");
  EXPECT_EQ(slurp(dir + "/cpu.max"), "max 200000");

  for (const char* key : {"../x", "a/b", "..", "noperiod", ""}) {
    oci::Resources bad;
    bad.unified[key] = "1";
    EXPECT_THROW(cg->apply(bad), Error) << key;
  }
  oci::Resources rt;
  rt.cpu.emplace();
  rt.cpu->realtime_runtime = 1000;
  EXPECT_THROW(cg->apply(rt), Error);
  oci::Resources missing;
  missing.hugepage_limits.push_back({"3MB", 1});
  try {
    cg->apply(missing);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cgroup: write 1 to " + dir + "/hugetlb.3MB.max: no such file or directory");
  }

  write_file(dir + "/cpu.stat", "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\nnr_throttled 1\n"
                                "throttled_usec 7\n");
  write_file(dir + "/memory.current", "1234\n");
  write_file(dir + "/memory.max", "max\n");
  write_file(dir + "/memory.stat", "anon 1\nfile 2\n");
  write_file(dir + "/pids.current", "3\n");
  write_file(dir + "/pids.max", "max\n");
  write_file(dir + "/io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
  json s = cg->stats();
  EXPECT_EQ(s["cpu"]["usage"]["total"], 100000);
  EXPECT_EQ(s["cpu"]["usage"]["user"], 60000);
  EXPECT_EQ(s["cpu"]["usage"]["kernel"], 40000);
  EXPECT_EQ(s["cpu"]["throttling"]["throttledTime"], 7000);
  EXPECT_EQ(s["memory"]["usage"]["usage"], 1234);
  EXPECT_EQ(s["memory"]["usage"]["limit"], UINT64_MAX);
  EXPECT_EQ(s["memory"]["cache"], 2);
  EXPECT_EQ(s["memory"]["raw"]["anon"], 1);
  EXPECT_EQ(s["pids"], (json{{"current", 3}}));
  EXPECT_EQ(s["blkio"]["ioServiceBytesRecursive"],
            (json::parse(R"([{"major":8,"op":"Read","value":10},{"major":8,"op":"Write","value":20}])")));

  write_file(dir + "/cgroup.procs", "");
  cg->add_process(4242);
  EXPECT_EQ(slurp(dir + "/cgroup.procs"), "4242");
  EXPECT_EQ(cg->pids(), std::vector<pid_t>{4242});

  // The kernel would flip "frozen" itself; the fake says it already did.
  write_file(dir + "/cgroup.freeze", "0");
  write_file(dir + "/cgroup.events", "populated 1\nfrozen 1\n");
  cg->freeze();
  EXPECT_EQ(slurp(dir + "/cgroup.freeze"), "1");
  EXPECT_TRUE(cg->frozen());
}

// ------------------------------------------------------------ live (this host)

bool have_v1_memory() { return ::geteuid() == 0 && fs_magic("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC); }

// A child that waits for "go", then touches 8 MiB (charged to whatever
// memory cgroup it is in by then), answers, and sleeps.
struct Child {
  pid_t pid = -1;
  int go = -1, ack = -1;

  static Child spawn() {
    int go_pipe[2], ack_pipe[2];
    if (::pipe2(go_pipe, O_CLOEXEC) != 0 || ::pipe2(ack_pipe, O_CLOEXEC) != 0) throw Error("pipe");
    pid_t pid = ::fork();
    if (pid == 0) {
      char c;
      if (::read(go_pipe[0], &c, 1) != 1) ::_exit(1);
      size_t n = 8 << 20;
      void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) ::_exit(2);
      std::memset(p, 1, n);
      if (::write(ack_pipe[1], "k", 1) != 1) ::_exit(3);
      while (true) ::pause();
    }
    ::close(go_pipe[0]);
    ::close(ack_pipe[1]);
    return Child{pid, go_pipe[1], ack_pipe[0]};
  }
  void start() {
    char c = 'g';
    ASSERT_EQ(::write(go, &c, 1), 1);
    ASSERT_EQ(::read(ack, &c, 1), 1);
  }
  void kill() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(go);
    ::close(ack);
    pid = -1;
  }
};

class CgroupLive : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_v1_memory()) GTEST_SKIP() << "needs root and the v1 memory hierarchy";
    static int n = 0;
    name_ = fmt::format("berth-test-{}-{}", ::getpid(), n++);
  }
  void TearDown() override {
    child_.kill();
    if (cg_) {
      try {
        cg_->destroy();
      } catch (const Error&) {
      }
    }
  }
  std::string own(const std::string& controller) {
    return parse_proc_cgroup(read_file("/proc/self/cgroup"))[controller];
  }

  std::string name_;
  std::unique_ptr<Cgroup> cg_;
  Child child_;
};

TEST_F(CgroupLive, PathsOnThisHost) {
  cg_ = Cgroup::open(name_, "ignored", false);  // relative: below our own cgroups
  auto p = cg_->paths();
  EXPECT_EQ(p["memory"], clean_path("/sys/fs/cgroup/memory/" + own("memory") + "/" + name_));
  EXPECT_EQ(p["cpu"], clean_path("/sys/fs/cgroup/cpu/" + own("cpu") + "/" + name_));
  EXPECT_EQ(p["name=systemd"], clean_path("/sys/fs/cgroup/systemd/" + own("name=systemd") + "/" + name_));
  if (Layout l = detect_host_layout(); l.mode() == "hybrid") {
    std::string unified = l.hierarchies[l.unified()].mount_point;
    EXPECT_EQ(p[""], clean_path(unified + "/" + clean_path(own("") + "/..") + "/" + name_));
    if (l.find("hugetlb") == l.unified()) {
      EXPECT_EQ(p["hugetlb"], p[""]);
    }
  }
  auto sd = Cgroup::open("system.slice:berth:" + name_, "ignored", true)->paths();
  EXPECT_EQ(sd["memory"], "/sys/fs/cgroup/memory/system.slice/berth-" + name_ + ".scope");
  EXPECT_EQ(sd["pids"], "/sys/fs/cgroup/pids/system.slice/berth-" + name_ + ".scope");
  auto dflt = Cgroup::open("", name_, false)->paths();
  EXPECT_EQ(dflt["memory"], p["memory"]);
}

TEST_F(CgroupLive, ApplyAndReadBack) {
  cg_ = Cgroup::open(name_, name_, false);
  cg_->create();
  auto p = cg_->paths();
  for (const auto& [c, dir] : p) EXPECT_TRUE(path_exists(dir)) << c << " " << dir;
  const std::string mem = p["memory"];

  oci::Resources res;
  res.memory.emplace();
  res.memory->limit = 100 << 20;
  res.memory->swap = 200 << 20;
  res.memory->reservation = 50 << 20;
  res.memory->kernel = 64 << 20;  // deprecated: accepted, maybe ignored
  res.cpu.emplace();
  res.cpu->shares = 512;
  res.cpu->quota = 50000;
  res.cpu->period = 100000;
  res.cpu->cpus = "0";
  res.cpu->mems = "0";
  res.pids_limit = 10;
  res.devices = {rule(false, "", {}, {}, "rwm"), rule(true, "c", 1, 3, "rwm"), rule(true, "c", 1, 5, "rw")};
  auto sizes = hugepage_sizes();
  bool hugetlb = std::find(sizes.begin(), sizes.end(), "2MB") != sizes.end();
  if (hugetlb) res.hugepage_limits.push_back({"2MB", 4 << 20});
  cg_->apply(res);

  EXPECT_EQ(slurp(mem + "/memory.limit_in_bytes"), "104857600");
  if (path_exists(mem + "/memory.memsw.limit_in_bytes")) {
    EXPECT_EQ(slurp(mem + "/memory.memsw.limit_in_bytes"), "209715200");
  }
  EXPECT_EQ(slurp(mem + "/memory.soft_limit_in_bytes"), "52428800");
  EXPECT_EQ(slurp(p["cpu"] + "/cpu.shares"), "512");
  EXPECT_EQ(slurp(p["cpu"] + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(slurp(p["cpu"] + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(slurp(p["cpuset"] + "/cpuset.cpus"), "0");
  EXPECT_EQ(slurp(p["cpuset"] + "/cpuset.mems"), "0");
  EXPECT_EQ(slurp(p["pids"] + "/pids.max"), "10");
  std::string devices = read_file(p["devices"] + "/devices.list");
  EXPECT_NE(devices.find("c 1:3 rwm"), std::string::npos) << devices;
  EXPECT_NE(devices.find("c 1:5 rw\n"), std::string::npos) << devices;
  EXPECT_EQ(devices.find("a *:* rwm"), std::string::npos) << devices;
  if (hugetlb) {
    std::string dir = p["hugetlb"];
    // On this host hugetlb lives on the unified mount, next to v1 memory.
    if (dir == p[""]) {
      EXPECT_EQ(slurp(dir + "/hugetlb.2MB.max"), "4194304");
    } else {
      EXPECT_EQ(slurp(dir + "/hugetlb.2MB.limit_in_bytes"), "4194304");
    }
  }

  // Growing then shrinking memory+swap only works in the right write order.
  oci::Resources grow;
  grow.memory.emplace();
  grow.memory->limit = 300 << 20;
  grow.memory->swap = 400 << 20;
  cg_->apply(grow);
  EXPECT_EQ(slurp(mem + "/memory.limit_in_bytes"), "314572800");
  oci::Resources shrink;
  shrink.memory.emplace();
  shrink.memory->limit = 50 << 20;
  shrink.memory->swap = 60 << 20;
  cg_->apply(shrink);
  EXPECT_EQ(slurp(mem + "/memory.limit_in_bytes"), "52428800");
  if (path_exists(mem + "/memory.memsw.limit_in_bytes")) {
    EXPECT_EQ(slurp(mem + "/memory.memsw.limit_in_bytes"), "62914560");
  }

  // Re-opened from the saved paths, as after `create` exits.
  auto again = Cgroup::from_paths(p);
  EXPECT_EQ(again->paths(), p);
  oci::Resources pids;
  pids.pids_limit = 0;
  again->apply(pids);
  EXPECT_EQ(slurp(p["pids"] + "/pids.max"), "max");
}

TEST_F(CgroupLive, BadValuesNameTheFile) {
  cg_ = Cgroup::open(name_, name_, false);
  cg_->create();
  oci::Resources res;
  res.cpu.emplace();
  res.cpu->cpus = "abc";
  try {
    cg_->apply(res);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cgroup: write abc to " + cg_->paths()["cpuset"] + "/cpuset.cpus: invalid argument");
  }
  oci::Resources swap;
  swap.memory.emplace();
  swap.memory->limit = 100 << 20;
  swap.memory->swap = 50 << 20;  // below the limit
  if (path_exists(cg_->paths()["memory"] + "/memory.memsw.limit_in_bytes")) {
    try {
      cg_->apply(swap);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("write 52428800 to " + cg_->paths()["memory"] + "/memory.memsw"),
                std::string::npos)
          << e.what();
    }
  }
  if (detect_host_layout().mode() == "hybrid") {
    oci::Resources unified;
    unified.unified["memory.max"] = "1";
    EXPECT_THROW(cg_->apply(unified), Error);  // memory is on v1 here
  }
}

TEST_F(CgroupLive, ProcessFreezeStatsDestroy) {
  cg_ = Cgroup::open(name_, name_, false);
  cg_->create();
  oci::Resources res;
  res.memory.emplace();
  res.memory->limit = 256 << 20;
  res.pids_limit = 100;
  cg_->apply(res);

  child_ = Child::spawn();
  cg_->add_process(child_.pid);
  child_.start();
  EXPECT_EQ(cg_->pids(), std::vector<pid_t>{child_.pid});
  auto in = parse_proc_cgroup(read_file(fmt::format("/proc/{}/cgroup", child_.pid)));
  auto p = cg_->paths();
  EXPECT_EQ(clean_path("/sys/fs/cgroup/memory/" + in["memory"]), p["memory"]);
  if (p.count("")) {
    EXPECT_TRUE(p[""].ends_with(in[""])) << in[""];  // joined the unified hierarchy too
  }

  cg_->freeze();
  EXPECT_TRUE(cg_->frozen());
  if (p.count("freezer")) {
    EXPECT_EQ(slurp(p["freezer"] + "/freezer.state"), "FROZEN");
  }
  cg_->thaw();
  EXPECT_FALSE(cg_->frozen());

  json s = cg_->stats();
  EXPECT_GE(s["memory"]["usage"].value("usage", 0ULL), 8ULL << 20) << s.dump();
  EXPECT_EQ(s["memory"]["usage"]["limit"], 256ULL << 20);
  EXPECT_EQ(s["pids"]["current"], 1);
  EXPECT_EQ(s["pids"]["limit"], 100);
  EXPECT_TRUE(s["cpu"]["usage"].contains("kernel"));
  EXPECT_TRUE(s["memory"]["raw"].contains("rss") || s["memory"]["raw"].contains("anon")) << s.dump();

  // A cgroup the container made inside its own goes too.
  ASSERT_EQ(::mkdir((p["memory"] + "/nested").c_str(), 0755), 0);
  EXPECT_THROW(cg_->destroy(), Error);  // still populated: EBUSY after retrying
  child_.kill();
  cg_->destroy();
  for (const auto& [c, dir] : p) EXPECT_FALSE(path_exists(dir)) << c << " " << dir;
  cg_->destroy();  // already gone: fine
}

// The v2 freezer and stats on a real cgroup2 mount (on a hybrid host the
// core cgroup.freeze and cpu.stat exist even without controllers).
TEST(CgroupV2Live, FreezeAndStatsOnUnified) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  Layout l = detect_host_layout();
  if (l.unified() < 0) GTEST_SKIP() << "no cgroup2 mount";
  std::string dir = fmt::format("{}/berth-test-{}-v2", l.hierarchies[l.unified()].mount_point, ::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << strerror(errno);
  Child child = Child::spawn();
  write_value(dir, "cgroup.procs", std::to_string(child.pid));
  child.start();

  v2::freeze(dir);
  EXPECT_TRUE(v2::frozen(dir));
  EXPECT_EQ(read_value(dir, "cgroup.freeze"), "1");
  v2::thaw(dir);
  EXPECT_FALSE(v2::frozen(dir));
  json cpu = json::object(), pids = json::object();
  v2::stats_cpu(dir, cpu);
  EXPECT_TRUE(cpu["usage"].contains("user")) << cpu.dump();
  EXPECT_TRUE(cpu["usage"].contains("total")) << cpu.dump();  // the child ran
  if (l.find("pids") == l.unified()) {
    v2::stats_pids(dir, pids);
    EXPECT_EQ(pids["current"], 1);
  }

  child.kill();
  for (int i = 0; i < 100 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(10000);
  EXPECT_FALSE(path_exists(dir));
}

// Device filtering with the v2 BPF program, on whatever cgroup2 mount this
// host has (hybrid included: the kernel runs BPF device programs of the
// task's v2 cgroup alongside the v1 devices controller).
TEST(CgroupDevicesLive, BpfFilterOnUnified) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  Layout l = detect_host_layout();
  if (l.unified() < 0) GTEST_SKIP() << "no cgroup2 mount";
  std::string dir = fmt::format("{}/berth-test-{}-bpf", l.hierarchies[l.unified()].mount_point, ::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << strerror(errno);
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      for (int i = 0; i < 100 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(10000);
    }
  } cleanup{dir};

  // A child joins the cgroup itself, then opens /dev/null (allowed) and
  // /dev/zero. Exit code bits: 1 /dev/null failed, 2 /dev/zero opened,
  // 4 /dev/zero failed with something else than EPERM, 8 join failed.
  auto probe = [&]() {
    std::string procs = dir + "/cgroup.procs";
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(procs.c_str(), O_WRONLY);
      if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(8);
      int rc = 0;
      if (::open("/dev/null", O_RDWR) < 0) rc |= 1;
      if (::open("/dev/zero", O_RDONLY) >= 0) rc |= 2;
      else if (errno != EPERM) rc |= 4;
      ::_exit(rc);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };

  attach_device_filter(dir, emulate_device_rules({rule(false, "a", {}, {}, "rwm"), rule(true, "c", 1, 3, "rwm")}));
  EXPECT_EQ(attached_device_programs(dir).size(), 1u);
  EXPECT_EQ(probe(), 0);
  // An update replaces the filter rather than stacking a second one.
  attach_device_filter(dir, emulate_device_rules({rule(false, "a", {}, {}, "rwm"), rule(true, "c", 1, 3, "rwm"),
                                                  rule(true, "c", 1, 5, "r")}));
  EXPECT_EQ(attached_device_programs(dir).size(), 1u);
  EXPECT_EQ(probe(), 2);
}

}  // namespace
}  // namespace berth::runtime::cg
