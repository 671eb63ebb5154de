#include "engine/spec_resources.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdint>
#include <regex>
#include <set>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::engine {
namespace {

using nlohmann::json;

constexpr long long kMinMemory = 6 * 1024 * 1024;

long long num(const json& hc, const char* key) {
  auto it = hc.find(key);
  if (it == hc.end() || it->is_null()) return 0;
  if (!it->is_number()) fail("invalid HostConfig.{}: expected a number, got {}", key, it->dump());
  return it->get<long long>();
}

std::string str(const json& hc, const char* key) {
  auto it = hc.find(key);
  return it != hc.end() && it->is_string() ? it->get<std::string>() : "";
}

json memory_resources(const json& hc, bool host_limits_swap) {
  long long memory = num(hc, "Memory"), swap = num(hc, "MemorySwap"), reservation = num(hc, "MemoryReservation");
  if (memory != 0 && memory < kMinMemory) fail("Minimum memory limit allowed is 6MB");
  if (memory > 0 && swap == 0) swap = 2 * memory;  // docker's default: as much swap as memory
  if (memory > 0 && swap > 0 && swap < memory)
    fail("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (memory == 0 && swap > 0) fail("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (reservation != 0 && reservation < kMinMemory) fail("Minimum memory reservation allowed is 6MB");
  if (memory > 0 && reservation > 0 && memory < reservation)
    fail("Minimum memory limit can not be less than memory reservation limit, see usage");
  if (!host_limits_swap) swap = 0;  // docker warns and runs "memory limited without swap"

  json m = json::object();
  if (memory > 0) m["limit"] = memory;
  if (reservation > 0) m["reservation"] = reservation;
  if (swap > 0) m["swap"] = swap;
  if (auto s = hc.find("MemorySwappiness"); s != hc.end() && s->is_number() && s->get<long long>() != -1) {
    long long v = s->get<long long>();
    if (v < 0 || v > 100) fail("Invalid value: {}, valid memory swappiness range is 0-100", v);
    m["swappiness"] = v;
  }
  if (auto o = hc.find("OomKillDisable"); o != hc.end() && o->is_boolean() && o->get<bool>()) m["disableOOMKiller"] = true;
  return m;
}

json cpu_resources(const json& hc) {
  long long shares = num(hc, "CpuShares"), nano = num(hc, "NanoCpus");
  long long period = num(hc, "CpuPeriod"), quota = num(hc, "CpuQuota");
  if (shares < 0) fail("shares: invalid argument");
  if (nano > 0 && period > 0) fail("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (nano > 0 && quota > 0) fail("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (nano < 0 || (ncpu > 0 && nano > ncpu * 1000000000LL))
    fail("Range of CPUs is from 0.01 to {}.00, as there are only {} CPUs available", ncpu, ncpu);
  if (period != 0 && (period < 1000 || period > 1000000))
    fail("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)");
  if (quota > 0 && quota < 1000) fail("CPU cfs quota can not be less than 1ms (i.e. 1000)");

  json c = json::object();
  // The kernel's accepted range; docker clamps rather than failing.
  if (shares > 0) c["shares"] = std::clamp(shares, 2LL, 262144LL);
  if (nano > 0) {
    constexpr long long kPeriod = 100000;  // 100ms, in microseconds
    c["period"] = kPeriod;
    c["quota"] = nano * kPeriod / 1000000000LL;
  }
  if (period != 0) c["period"] = period;
  if (quota != 0) c["quota"] = quota;
  if (auto s = str(hc, "CpusetCpus"); !s.empty()) c["cpus"] = s;
  if (auto s = str(hc, "CpusetMems"); !s.empty()) c["mems"] = s;
  if (long long v = num(hc, "CpuRealtimePeriod")) c["realtimePeriod"] = v;
  if (long long v = num(hc, "CpuRealtimeRuntime")) c["realtimeRuntime"] = v;
  return c;
}

bool valid_device_mode(const std::string& mode) {
  if (mode.empty() || mode.size() > 3) return false;
  std::set<char> seen;
  for (char c : mode)
    if ((c != 'r' && c != 'w' && c != 'm') || !seen.insert(c).second) return false;
  return true;
}

struct DeviceMapping {
  std::string on_host, in_container, permissions = "rwm";
};

// An entry of HostConfig.Devices: the API's object, or the CLI's string.
DeviceMapping parse_device_mapping(const json& d) {
  DeviceMapping m;
  if (d.is_string()) {
    std::string spec = d.get<std::string>();
    auto parts = split(spec, ':');
    if (parts.size() > 3 || parts[0].empty()) fail("invalid device specification: {}", spec);
    m.on_host = parts[0];
    if (parts.size() == 3) m.permissions = parts[2];
    if (parts.size() >= 2) {
      if (parts.size() == 2 && valid_device_mode(parts[1]))
        m.permissions = parts[1];
      else
        m.in_container = parts[1];
    }
  } else if (d.is_object()) {
    m.on_host = d.value("PathOnHost", "");
    m.in_container = d.value("PathInContainer", "");
    std::string perms = d.value("CgroupPermissions", "");
    if (!perms.empty()) m.permissions = perms;
  } else {
    fail("invalid device specification: {}", d.dump());
  }
  if (m.in_container.empty()) m.in_container = m.on_host;
  if (!valid_device_mode(m.permissions)) fail("invalid device mode: {}", m.permissions);
  if (m.in_container[0] != '/') fail("{} is not an absolute path", m.in_container);
  return m;
}

// A device node as linux.devices describes it; nullopt if path is not one.
std::optional<json> device_node(const std::string& host_path, const std::string& container_path) {
  struct stat st {};
  if (::lstat(host_path.c_str(), &st) != 0) return std::nullopt;
  const char* type = S_ISBLK(st.st_mode) ? "b" : S_ISCHR(st.st_mode) ? "c" : S_ISFIFO(st.st_mode) ? "p" : nullptr;
  if (!type) return std::nullopt;
  return json{{"type", type},
              {"path", container_path},
              {"major", major(st.st_rdev)},
              {"minor", minor(st.st_rdev)},
              {"fileMode", st.st_mode & 07777},
              {"uid", st.st_uid},
              {"gid", st.st_gid}};
}

json allow_rule(const json& node, const std::string& access) {
  return {{"allow", true}, {"type", node["type"]}, {"major", node["major"]}, {"minor", node["minor"]}, {"access", access}};
}

// Every device node under dir (recursively), mapped from host_root to
// container_root; skip_dirs are not entered (top level only).
void collect_devices(const std::string& dir, const std::string& host_root, const std::string& container_root,
                     const std::set<std::string>& skip, std::vector<json>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string path = path_join(dir, n);
    if (skip.count(path)) continue;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      collect_devices(path, host_root, container_root, skip, out);
      continue;
    }
    if (auto node = device_node(path, container_root + path.substr(host_root.size()))) out->push_back(*node);
  }
}

// HostConfig.Devices entry: one device, or every device under a directory.
std::vector<json> devices_from_path(const DeviceMapping& m) {
  std::string host = m.on_host;
  char resolved[PATH_MAX];
  if (::realpath(host.c_str(), resolved)) host = resolved;  // docker follows a symlinked device
  if (auto node = device_node(host, m.in_container)) return {*node};
  std::vector<json> out;
  struct stat st {};
  if (::stat(host.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) collect_devices(host, host, m.in_container, {}, &out);
  if (out.empty())
    fail("error gathering device information while adding custom device \"{}\": not a device node", m.on_host);
  return out;
}

// DeviceCgroupRules entry: "c 1:3 mr", "b *:* m", "a".
json cgroup_rule(const std::string& rule) {
  static const std::regex kRule("^([acb]) ([0-9]+|\\*):([0-9]+|\\*) ([rwm]{1,3})$");
  if (rule == "a" || rule == "a *:* rwm") return {{"allow", true}, {"type", "a"}, {"access", "rwm"}};
  std::smatch m;
  if (!std::regex_match(rule, m, kRule)) fail("invalid device cgroup rule format: '{}'", rule);
  if (m[1] == "a")
    fail("although this cgroup rule is technically correct, because 'a' maps to 'a *:* rwm' regardless of what comes "
         "next, this format is partially ineffective: '{}'",
         rule);
  json j = {{"allow", true}, {"type", m[1].str()}, {"access", m[4].str()}};
  j["major"] = m[2] == "*" ? -1 : std::stoll(m[2].str());
  j["minor"] = m[3] == "*" ? -1 : std::stoll(m[3].str());
  return j;
}

json docker_default_device_rules() {
  json rules = json::array({{{"allow", false}, {"access", "rwm"}}});
  auto rule = [&](bool allow, int major, int minor) {
    rules.push_back({{"allow", allow}, {"type", "c"}, {"major", major}, {"minor", minor}, {"access", "rwm"}});
  };
  rule(true, 1, 5);     // /dev/zero
  rule(true, 1, 3);     // /dev/null
  rule(true, 1, 9);     // /dev/urandom
  rule(true, 1, 8);     // /dev/random
  rule(true, 5, 0);     // /dev/tty
  rule(true, 5, 1);     // /dev/console
  rule(false, 10, 229);  // /dev/fuse stays denied unless asked for
  return rules;
}

const std::set<std::string>& rlimit_names() {
  static const std::set<std::string> k = {"as",     "core",   "cpu",     "data",   "fsize",  "locks",
                                          "memlock", "msgqueue", "nice", "nofile", "nproc",  "rss",
                                          "rtprio", "rttime", "sigpending", "stack"};
  return k;
}

}  // namespace

json docker_resources(const json& hc, bool host_limits_swap) {
  json r = json::object();
  if (json m = memory_resources(hc, host_limits_swap); !m.empty()) r["memory"] = m;
  if (json c = cpu_resources(hc); !c.empty()) r["cpu"] = c;
  if (auto p = hc.find("PidsLimit"); p != hc.end() && p->is_number()) {
    long long v = p->get<long long>();
    r["pids"] = {{"limit", v <= 0 ? -1 : v}};  // docker: 0 and negative both mean unlimited
  }
  if (long long w = num(hc, "BlkioWeight"); w != 0) {
    if (w < 10 || w > 1000) fail("Range of blkio weight is from 10 to 1000");
    r["blockIO"] = {{"weight", w}};
  }
  return r;
}

DeviceSetup docker_devices(const json& hc, bool privileged) {
  DeviceSetup out;
  std::vector<DeviceMapping> mappings;
  if (auto d = hc.find("Devices"); d != hc.end() && d->is_array())
    for (const auto& entry : *d) mappings.push_back(parse_device_mapping(entry));

  if (privileged) {
    // Every host device, as containerd's HostDevices() lists them.
    std::vector<json> nodes;
    std::set<std::string> skip = {"/dev/pts", "/dev/shm", "/dev/fd", "/dev/mqueue", "/dev/.lxc", "/dev/.lxd-mounts",
                                  "/dev/.udev", "/dev/console"};
    collect_devices("/dev", "/dev", "/dev", skip, &nodes);
    for (auto& n : nodes) out.devices.push_back(std::move(n));
    for (const auto& m : mappings) {
      if (m.on_host == m.in_container) continue;  // already there
      for (auto& n : devices_from_path(DeviceMapping{m.on_host, m.in_container, "rwm"})) out.devices.push_back(n);
    }
    out.cgroup_rules = json::array({{{"allow", true}, {"access", "rwm"}}});
    return out;
  }

  out.cgroup_rules = docker_default_device_rules();
  for (const auto& m : mappings) {
    for (auto& n : devices_from_path(m)) {
      out.cgroup_rules.push_back(allow_rule(n, m.permissions));
      out.devices.push_back(std::move(n));
    }
  }
  if (auto rules = hc.find("DeviceCgroupRules"); rules != hc.end() && rules->is_array())
    for (const auto& r : *rules) out.cgroup_rules.push_back(cgroup_rule(r.get<std::string>()));
  return out;
}

json docker_rlimits(const json& hc) {
  json out = json::array();
  auto u = hc.find("Ulimits");
  if (u == hc.end() || !u->is_array()) return out;
  for (const auto& ul : *u) {
    std::string name = ul.value("Name", "");
    if (!rlimit_names().count(name)) fail("invalid ulimit type: {}", name);
    long long soft = ul.value("Soft", 0LL), hard = ul.value("Hard", 0LL);
    if (soft > hard && hard >= 0 && soft >= 0)
      fail("ulimit soft limit must be less than or equal to hard limit: {} > {}", soft, hard);
    std::string type = "RLIMIT_";
    for (char c : name) type += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    // Go's uint64() of -1 is RLIM_INFINITY, which is what docker sends.
    out.push_back({{"type", type}, {"soft", static_cast<uint64_t>(soft)}, {"hard", static_cast<uint64_t>(hard)}});
  }
  return out;
}

}  // namespace berth::engine
