// Cgroups internals shared by cgroups.cc and the cgroup_*.cc files. Not a
// public API: only cgroups_test.cc includes it, to test the pure parts (layout
// detection, path mapping, conversions, device rules) and the v2 writers on a
// fake tree, so v2 logic is covered on v1 and hybrid hosts too.
//
// Model: the host has one or more hierarchies (a v1 mount per controller set,
// at most one cgroup2 mount). A container has one directory per hierarchy it
// uses, and each controller is driven on the one hierarchy that holds it.
#pragma once

#include <linux/bpf.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"
#include "runtime/cgroups.h"
#include "runtime/mountinfo.h"

namespace berth::runtime::cg {

// ---------------------------------------------------------------- layout

enum class Version { kV1, kV2 };

struct Hierarchy {
  Version version = Version::kV1;
  std::string mount_point;
  std::string root;  // mountinfo's root: the cgroup the mount point shows
  // v1: controllers from the super options ("cpu", "name=systemd").
  // v2: the mount root's cgroup.controllers ("hugetlb" on a hybrid host).
  std::vector<std::string> controllers;

  bool has(std::string_view controller) const;
};

struct Layout {
  std::vector<Hierarchy> hierarchies;

  // Index of the hierarchy that drives `controller`: the v1 hierarchy that
  // holds it, else the v2 one if its root offers it; -1 if none.
  int find(std::string_view controller) const;
  int unified() const;  // the cgroup2 hierarchy, or -1
  bool has_v1() const;
  // "v1", "v2" or "hybrid".
  std::string mode() const;
};

// Reads a cgroup2 mount root's cgroup.controllers (injected for tests).
using ControllersReader = std::function<std::string(const std::string& mount_point)>;

// Builds the layout from parsed mountinfo. v1 mounts with no known controller
// (and no name=systemd) are ignored; a second mount of the same controller
// set, or a second cgroup2 mount, is a bind mount and ignored too.
Layout detect_layout(const std::vector<MountInfo>& mounts, const ControllersReader& read_controllers);
// The layout of this process's mount namespace.
Layout detect_host_layout();

// ---------------------------------------------------------------- paths

// /proc/<pid>/cgroup: controller -> path ("" for the v2 line "0::/x").
// Comma-joined v1 controllers ("2:cpu,cpuacct:/") give one entry each.
std::map<std::string, std::string> parse_proc_cgroup(const std::string& text);

// systemd slice name to its path: "a-b.slice" -> "/a.slice/a-b.slice",
// "-.slice" -> "/". Throws Error on an invalid slice name.
std::string expand_slice(const std::string& slice);

// The container's path inside every hierarchy, from linux.cgroupsPath:
// - systemd: "slice:prefix:name" -> "<expanded slice>/<prefix>-<name>.scope"
//   (a name ending in ".slice" is used as is); "" -> "system.slice:runc:<id>".
// - cgroupfs: cleaned path; absolute stays absolute, relative stays relative
//   (".." cannot climb above its base); "" -> "<id>" (relative), as runc does.
std::string inner_path(const std::string& cgroups_path, const std::string& id, bool systemd);

// One directory per hierarchy of `layout` (same order). Absolute inner paths are below each mount point;
// relative ones are below this process's own cgroup (v1) or its parent (v2,
// where the own cgroup holds processes and so cannot delegate controllers),
// as runc does. `own` is parse_proc_cgroup of /proc/self/cgroup.
std::vector<std::string> map_dirs(const Layout& layout, const std::map<std::string, std::string>& own,
                                  const std::string& inner);

// The Cgroup over explicit directories (dirs parallel to layout.hierarchies;
// "" for a hierarchy the container does not use).
std::unique_ptr<Cgroup> make_cgroup(Layout layout, std::vector<std::string> dirs);

// ---------------------------------------------------------------- files

// Writes value to dir/name in one write(2) (cgroupfs takes each write as one
// command). Error: "cgroup: write <value> to <dir/name>: <reason>".
void write_value(const std::string& dir, std::string_view name, std::string_view value);
// The same, but returns 0 or the errno instead of throwing, for writes whose
// failure the caller handles (retries, optional knobs).
int try_write_value(const std::string& dir, std::string_view name, std::string_view value);
// The Error write_value would throw for err.
[[noreturn]] void fail_write(const std::string& dir, std::string_view name, std::string_view value, int err);
bool file_exists(const std::string& dir, std::string_view name);
std::string read_value(const std::string& dir, std::string_view name);  // trimmed
bool read_value_if_exists(const std::string& dir, std::string_view name, std::string* out);
// A single number; "max" reads as UINT64_MAX.
uint64_t read_uint(const std::string& dir, std::string_view name);
// "key value" lines (memory.stat, cpu.stat); non-numeric lines are skipped.
std::map<std::string, uint64_t> parse_flat_keyed(const std::string& text);

// ---------------------------------------------------------------- conversions

// runc's shares (2..262144) -> cpu.weight (1..10000); 0 stays 0 (unset).
uint64_t cpu_shares_to_weight(uint64_t shares);
// blkio weight (10..1000) -> io.weight (1..10000); 0 stays 0.
uint64_t blkio_weight_to_io_weight(uint64_t weight);
// OCI swap (memory+swap) -> memory.swap.max; -1 is unlimited, 0 unset.
int64_t memory_swap_to_v2(int64_t swap, int64_t limit);
// Page size in bytes -> the name used in hugetlb file names (2097152 -> "2MB").
std::string hugepage_size_name(uint64_t bytes);
// Page sizes the kernel supports (/sys/kernel/mm/hugepages).
std::vector<std::string> hugepage_sizes();

// ---------------------------------------------------------------- devices

enum : unsigned { kDevRead = 1, kDevWrite = 2, kDevMknod = 4 };

struct DeviceRule {
  char type = 'c';          // 'c' or 'b' (never 'a' in a DeviceRuleSet)
  int64_t major = -1;       // -1: any
  int64_t minor = -1;       // -1: any
  unsigned access = 0;      // kDev* bits
};

// The effective device policy after applying OCI rules in order to a
// deny-all start, with cgroup v1 semantics (runc's devices emulator): a type
// "a" rule resets the default and drops all exceptions; other rules add an
// exception against the default or remove one. Exceptions are merged per
// (type, major, minor).
struct DeviceRuleSet {
  bool default_allow = false;
  std::vector<DeviceRule> exceptions;  // each one allows iff !default_allow
};

// Throws Error on an invalid type or access, or on a rule that would need a
// hole punched into a wildcard exception (v1 silently ignores those).
DeviceRuleSet emulate_device_rules(const std::vector<oci::DeviceCgroupRule>& rules);
// "c 1:3 rwm", "b *:* m", as devices.allow and devices.list spell it.
std::string device_rule_line(const DeviceRule& rule);

// v2: the BPF_PROG_TYPE_CGROUP_DEVICE program enforcing `set`.
std::vector<bpf_insn> device_filter_program(const DeviceRuleSet& set);
// Loads the program and attaches it to dir (BPF_CGROUP_DEVICE, multi), then
// detaches every other device program there, so an update replaces the old
// filter (both apply in between: never more permissive than either).
void attach_device_filter(const std::string& dir, const DeviceRuleSet& set);
// Ids of the device programs attached to dir.
std::vector<uint32_t> attached_device_programs(const std::string& dir);

// ---------------------------------------------------------------- v1

namespace v1 {
// Copies the parent's cpuset.cpus/mems into dir where empty: a v1 cpuset
// cgroup starts empty and refuses tasks until both are set.
void inherit_cpuset(const std::string& parent, const std::string& dir);
void set_memory(const std::string& dir, const oci::MemoryResources& m);
void set_cpu(const std::string& dir, const oci::CpuResources& c);
void set_cpuset(const std::string& dir, const oci::CpuResources& c);
void set_pids(const std::string& dir, int64_t limit);
void set_blkio(const std::string& dir, const oci::BlockIoResources& b);
void set_hugetlb(const std::string& dir, const std::vector<oci::HugepageLimit>& limits);
void set_net_cls(const std::string& dir, uint32_t class_id);
void set_net_prio(const std::string& dir, const std::vector<std::pair<std::string, uint32_t>>& prios);
void set_devices(const std::string& dir, const DeviceRuleSet& set);
void freeze(const std::string& dir);
void thaw(const std::string& dir);
bool frozen(const std::string& dir);
// Each fills its part of runc's stats object; missing files are skipped.
void stats_cpuacct(const std::string& dir, nlohmann::json& cpu);
void stats_cpu(const std::string& dir, nlohmann::json& cpu);
void stats_memory(const std::string& dir, nlohmann::json& memory);
void stats_pids(const std::string& dir, nlohmann::json& pids);
void stats_blkio(const std::string& dir, nlohmann::json& blkio);
void stats_hugetlb(const std::string& dir, nlohmann::json& hugetlb);
}  // namespace v1

// ---------------------------------------------------------------- v2

namespace v2 {
// Enables every controller dir offers in its cgroup.subtree_control (what
// runc does for each ancestor of a new cgroup); failures are left to the
// later limit writes to report.
void enable_controllers(const std::string& dir);
void set_memory(const std::string& dir, const oci::MemoryResources& m);
void set_cpu(const std::string& dir, const oci::CpuResources& c);
void set_cpuset(const std::string& dir, const oci::CpuResources& c);
void set_pids(const std::string& dir, int64_t limit);
void set_io(const std::string& dir, const oci::BlockIoResources& b);
void set_hugetlb(const std::string& dir, const std::vector<oci::HugepageLimit>& limits);
// Writes linux.resources.unified as is; keys must be plain file names.
void set_unified(const std::string& dir, const std::map<std::string, std::string>& unified);
void freeze(const std::string& dir);
void thaw(const std::string& dir);
bool frozen(const std::string& dir);
void stats_cpu(const std::string& dir, nlohmann::json& cpu);
void stats_memory(const std::string& dir, nlohmann::json& memory);
void stats_pids(const std::string& dir, nlohmann::json& pids);
void stats_io(const std::string& dir, nlohmann::json& blkio);
void stats_hugetlb(const std::string& dir, nlohmann::json& hugetlb);
}  // namespace v2

}  // namespace berth::runtime::cg
