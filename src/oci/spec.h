// OCI runtime-spec (1.x, Linux) configuration: typed structs and parsing from
// config.json.
//
// Contract: parse_spec() accepts any document valid under the spec, ignores
// unknown fields (as the spec requires), and rejects wrong types or missing
// required fields with an Error naming the JSON path
// ("config.json: process.args[1]: expected string"). Optional values are
// std::optional so "absent" and "zero" stay distinct (cgroup limits depend on
// it). Semantic checks that need the host (capability names, rootfs present)
// live in runtime/validate.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::oci {

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
  std::string username;  // only meaningful on Windows; kept for round trips
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t hard = 0;
  uint64_t soft = 0;
};

struct ConsoleSize {
  uint32_t height = 0;
  uint32_t width = 0;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::string apparmor_profile;
  std::optional<int> oom_score_adj;
  std::string selinux_label;
};

struct Root {
  std::string path;
  bool readonly = false;
};

struct Mount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;
  std::vector<std::string> uid_mappings_raw;  // unused; idmapped mounts are rejected explicitly
};

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart, poststop;
};

struct Namespace {
  std::string type;  // pid network mount ipc uts user cgroup time
  std::string path;  // empty: create a new one
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

struct Device {
  std::string type;  // c b u p
  std::string path;
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
};

struct DeviceCgroupRule {
  bool allow = false;
  std::string type;  // a c b (empty = all)
  std::optional<int64_t> major, minor;
  std::string access;  // rwm
};

struct MemoryResources {
  std::optional<int64_t> limit, reservation, swap, kernel, kernel_tcp;
  std::optional<uint64_t> swappiness;
  std::optional<bool> disable_oom_killer, use_hierarchy, check_before_update;
};

struct CpuResources {
  std::optional<uint64_t> shares;
  std::optional<int64_t> quota;
  std::optional<uint64_t> burst;
  std::optional<uint64_t> period;
  std::optional<int64_t> realtime_runtime;
  std::optional<uint64_t> realtime_period;
  std::string cpus, mems;
  std::optional<int64_t> idle;
};

struct WeightDevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight, leaf_weight;
};
struct ThrottleDevice {
  int64_t major = 0, minor = 0;
  uint64_t rate = 0;
};
struct BlockIoResources {
  std::optional<uint16_t> weight, leaf_weight;
  std::vector<WeightDevice> weight_device;
  std::vector<ThrottleDevice> throttle_read_bps, throttle_write_bps, throttle_read_iops, throttle_write_iops;
};

struct HugepageLimit {
  std::string page_size;  // "2MB"
  uint64_t limit = 0;
};

struct NetworkResources {
  std::optional<uint32_t> class_id;
  std::vector<std::pair<std::string, uint32_t>> priorities;
};

struct Resources {
  std::vector<DeviceCgroupRule> devices;
  std::optional<MemoryResources> memory;
  std::optional<CpuResources> cpu;
  std::optional<int64_t> pids_limit;
  std::optional<BlockIoResources> block_io;
  std::vector<HugepageLimit> hugepage_limits;
  std::optional<NetworkResources> network;
  std::map<std::string, std::string> unified;
};

struct SeccompArg {
  uint32_t index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  std::string op;  // SCMP_CMP_*
};

struct SeccompSyscall {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_*
  std::optional<uint32_t> errno_ret;
  std::vector<SeccompArg> args;
};

struct Seccomp {
  std::string default_action;
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;
  std::vector<std::string> flags;
  std::string listener_path;
  std::string listener_metadata;
  std::vector<SeccompSyscall> syscalls;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::vector<Device> devices;
  std::string cgroups_path;
  std::optional<Resources> resources;
  std::map<std::string, std::string> sysctl;
  std::optional<Seccomp> seccomp;
  std::string rootfs_propagation;
  std::vector<std::string> masked_paths, readonly_paths;
  std::string mount_label;
  std::map<std::string, int64_t> time_offsets_secs;  // "monotonic"/"boottime" -> secs
  std::map<std::string, uint32_t> time_offsets_nanosecs;
};

struct Spec {
  std::string oci_version;
  std::optional<Process> process;
  Root root;
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  Linux linux;
};

// Parses a config.json document. `origin` names it in errors.
Spec parse_spec(const std::string& text, const std::string& origin = "config.json");
Process parse_process(const nlohmann::json& j, const std::string& origin);
Resources parse_resources(const nlohmann::json& j, const std::string& origin);
Hook parse_hook(const nlohmann::json& j, const std::string& origin);
nlohmann::json hook_to_json(const Hook& h);

// The spec's default (runc spec) configuration, as `berth-runtime spec` prints it.
nlohmann::json default_spec_json(bool rootless);

}  // namespace berth::oci
