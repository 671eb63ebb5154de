// Cgroups: host layout detection, cgroupsPath mapping, and the Cgroup that
// dispatches each controller to its hierarchy's v1 or v2 writer.
#include "runtime/cgroups.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <set>
#include <thread>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "runtime/cgroup_internal.h"

namespace berth::runtime {
namespace cg {
namespace {

// v1 controllers Berth knows; other super options ("rw", "xattr",
// "release_agent=...") are mount flags.
constexpr std::array<std::string_view, 14> kV1Controllers = {
    "cpu",     "cpuacct", "cpuset",   "memory",     "devices", "freezer", "net_cls",
    "net_prio", "blkio",  "perf_event", "hugetlb", "pids",    "rdma",    "misc"};
constexpr std::string_view kSystemdName = "name=systemd";

bool is_v1_controller(std::string_view opt) {
  return opt == kSystemdName || std::find(kV1Controllers.begin(), kV1Controllers.end(), opt) != kV1Controllers.end();
}

bool under(const std::string& path, const std::string& prefix) {
  return path == prefix || (path.size() > prefix.size() && path.starts_with(prefix) &&
                            (prefix.back() == '/' || path[prefix.size()] == '/'));
}

}  // namespace

bool Hierarchy::has(std::string_view controller) const {
  return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

int Layout::find(std::string_view controller) const {
  for (size_t i = 0; i < hierarchies.size(); ++i)
    if (hierarchies[i].version == Version::kV1 && hierarchies[i].has(controller)) return static_cast<int>(i);
  int u = unified();
  if (u >= 0 && hierarchies[u].has(controller)) return u;
  return -1;
}

int Layout::unified() const {
  for (size_t i = 0; i < hierarchies.size(); ++i)
    if (hierarchies[i].version == Version::kV2) return static_cast<int>(i);
  return -1;
}

bool Layout::has_v1() const {
  for (const auto& h : hierarchies)
    if (h.version == Version::kV1) return true;
  return false;
}

std::string Layout::mode() const {
  if (!has_v1()) return "v2";
  return unified() >= 0 ? "hybrid" : "v1";
}

Layout detect_layout(const std::vector<MountInfo>& mounts, const ControllersReader& read_controllers) {
  Layout layout;
  for (const auto& m : mounts) {
    Hierarchy h;
    h.mount_point = m.mount_point;
    h.root = m.root;
    if (m.fs_type == "cgroup") {
      for (const auto& opt : split(m.super_options, ','))
        if (is_v1_controller(opt)) h.controllers.push_back(opt);
      if (h.controllers.empty()) continue;
      bool seen = std::any_of(layout.hierarchies.begin(), layout.hierarchies.end(), [&](const Hierarchy& o) {
        return o.version == Version::kV1 && o.controllers == h.controllers;
      });
      if (seen) continue;
    } else if (m.fs_type == "cgroup2") {
      if (layout.unified() >= 0) continue;
      h.version = Version::kV2;
      for (const auto& c : split(trim(read_controllers(m.mount_point)), ' '))
        if (!c.empty()) h.controllers.push_back(c);
    } else {
      continue;
    }
    layout.hierarchies.push_back(std::move(h));
  }
  return layout;
}

Layout detect_host_layout() {
  Layout layout = detect_layout(read_mountinfo("/proc/self/mountinfo"), [](const std::string& mp) {
    std::string text;
    // A cgroup2 mount whose root hides cgroup.controllers offers nothing.
    return read_value_if_exists(mp, "cgroup.controllers", &text) ? text : std::string();
  });
  if (layout.hierarchies.empty()) fail("cgroup: no cgroup or cgroup2 mount in /proc/self/mountinfo");
  return layout;
}

std::map<std::string, std::string> parse_proc_cgroup(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& line : split(text, '\n')) {
    // "4:memory:/a/b"; the path may itself contain ':'.
    size_t a = line.find(':');
    if (a == std::string::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty()) {
      out[""] = path;
      continue;
    }
    for (const auto& c : split(controllers, ',')) out[c] = path;
  }
  return out;
}

std::string expand_slice(const std::string& slice) {
  constexpr std::string_view kSuffix = ".slice";
  if (slice.size() <= kSuffix.size() || !slice.ends_with(kSuffix) || slice.find('/') != std::string::npos)
    fail("cgroup: invalid systemd slice name {:?}", slice);
  std::string name = slice.substr(0, slice.size() - kSuffix.size());
  if (name == "-") return "/";  // the root slice
  // Each dash starts a nested slice: "a-b.slice" lives in "a.slice".
  std::string path, prefix;
  for (const auto& part : split(name, '-')) {
    if (part.empty()) fail("cgroup: invalid systemd slice name {:?}", slice);
    path += "/" + prefix + part + std::string(kSuffix);
    prefix += part + "-";
  }
  return path;
}

std::string inner_path(const std::string& cgroups_path, const std::string& id, bool systemd) {
  if (systemd) {
    std::string spec = cgroups_path.empty() ? "system.slice:runc:" + id : cgroups_path;
    auto parts = split(spec, ':');
    if (parts.size() != 3)
      fail("cgroup: expected cgroupsPath of the form \"slice:prefix:name\" with --systemd-cgroup, got {:?}", spec);
    const std::string& name = parts[2];
    if (name.empty() || name.find('/') != std::string::npos) fail("cgroup: invalid systemd unit name {:?}", name);
    std::string slice = expand_slice(parts[0].empty() ? "system.slice" : parts[0]);
    std::string unit = name;
    if (!name.ends_with(".slice")) unit = (parts[1].empty() ? "" : parts[1] + "-") + name + ".scope";
    return clean_path(path_join(slice, unit));
  }
  std::string p = cgroups_path.empty() ? id : cgroups_path;
  if (p.empty()) fail("cgroup: empty cgroupsPath and container id");
  if (p[0] == '/') return clean_path(p);
  // Clean as if rooted so ".." cannot climb above the base it is joined to.
  std::string rel = clean_path("/" + p).substr(1);
  if (rel.empty()) fail("cgroup: cgroupsPath {:?} names no cgroup", cgroups_path);
  return rel;
}

std::vector<std::string> map_dirs(const Layout& layout, const std::map<std::string, std::string>& own,
                                  const std::string& inner) {
  std::vector<std::string> dirs;
  for (const auto& h : layout.hierarchies) {
    if (!inner.empty() && inner[0] == '/') {
      dirs.push_back(clean_path(path_join(h.mount_point, inner)));
      continue;
    }
    std::string base = "/";
    auto it = own.find(h.version == Version::kV2 ? std::string() : h.controllers.front());
    if (it != own.end()) base = it->second;
    // /proc/self/cgroup shows paths from the hierarchy root; the mount may
    // show only a subtree of it (mountinfo root).
    if (h.root != "/" && under(base, h.root)) base = "/" + base.substr(h.root.size());
    if (h.version == Version::kV2) base = clean_path(base + "/..");
    dirs.push_back(clean_path(path_join(path_join(h.mount_point, base), inner)));
  }
  return dirs;
}

namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Subdirectories of dir (cgroups the container created inside its own).
std::vector<std::string> child_dirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n == "." || n == ".." || e->d_type != DT_DIR) continue;
    out.push_back(path_join(dir, n));
  }
  ::closedir(d);
  return out;
}

void collect_pids(const std::string& dir, std::vector<pid_t>* out) {
  std::string text;
  if (!read_value_if_exists(dir, "cgroup.procs", &text)) return;  // removed meanwhile
  for (const auto& line : split(text, '\n')) {
    long long pid = 0;
    if (parse_int64(trim(line), &pid) && pid > 0) out->push_back(static_cast<pid_t>(pid));
  }
  for (const auto& child : child_dirs(dir)) collect_pids(child, out);
}

// rmdir with children first. A cgroup stays busy for a moment after its last
// process exits (the exit is not accounted yet), so EBUSY is retried until
// `deadline`, shared by all directories of one destroy().
void remove_tree(const std::string& dir, std::chrono::steady_clock::time_point deadline) {
  for (const auto& child : child_dirs(dir)) remove_tree(child, deadline);
  for (int delay = 1;; delay = std::min(delay * 2, 50)) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY || std::chrono::steady_clock::now() >= deadline) fail_errno("cgroup: rmdir {}", dir);
    sleep_ms(delay);
  }
}

bool any_memory(const oci::MemoryResources& m) {
  return m.limit || m.reservation || m.swap || m.kernel || m.kernel_tcp || m.swappiness ||
         m.disable_oom_killer.value_or(false);
}
bool any_cpu(const oci::CpuResources& c) {
  return c.shares || c.quota || c.burst || c.period || c.realtime_runtime || c.realtime_period || c.idle;
}
bool any_cpuset(const oci::CpuResources& c) { return !c.cpus.empty() || !c.mems.empty(); }
bool any_blkio(const oci::BlockIoResources& b) {
  return b.weight || b.leaf_weight || !b.weight_device.empty() || !b.throttle_read_bps.empty() ||
         !b.throttle_write_bps.empty() || !b.throttle_read_iops.empty() || !b.throttle_write_iops.empty();
}

class CgroupImpl : public Cgroup {
 public:
  CgroupImpl(Layout layout, std::vector<std::string> dirs) : layout_(std::move(layout)), dirs_(std::move(dirs)) {}

  void create() override {
    for (size_t i = 0; i < dirs_.size(); ++i) {
      if (dirs_[i].empty()) continue;
      const Hierarchy& h = layout_.hierarchies[i];
      // Walk down from the mount point so every new level is set up before
      // its child is made: v1 cpuset values, v2 subtree_control.
      std::string cur = h.mount_point;
      std::string rest = dirs_[i].substr(std::min(dirs_[i].size(), h.mount_point.size()));
      for (const auto& part : split(rest, '/')) {
        if (part.empty()) continue;
        if (h.version == Version::kV2) v2::enable_controllers(cur);
        std::string next = path_join(cur, part);
        if (::mkdir(next.c_str(), 0755) != 0 && errno != EEXIST) fail_errno("cgroup: mkdir {}", next);
        if (h.version == Version::kV1 && h.has("cpuset")) v1::inherit_cpuset(cur, next);
        cur = next;
      }
    }
  }

  void apply(const oci::Resources& res) override {
    if (res.memory && any_memory(*res.memory)) {
      auto [v, dir] = need("memory");
      v == Version::kV1 ? v1::set_memory(dir, *res.memory) : v2::set_memory(dir, *res.memory);
    }
    if (res.cpu && any_cpuset(*res.cpu)) {
      auto [v, dir] = need("cpuset");
      v == Version::kV1 ? v1::set_cpuset(dir, *res.cpu) : v2::set_cpuset(dir, *res.cpu);
    }
    if (res.cpu && any_cpu(*res.cpu)) {
      auto [v, dir] = need("cpu");
      v == Version::kV1 ? v1::set_cpu(dir, *res.cpu) : v2::set_cpu(dir, *res.cpu);
    }
    if (res.pids_limit) {
      auto [v, dir] = need("pids");
      v == Version::kV1 ? v1::set_pids(dir, *res.pids_limit) : v2::set_pids(dir, *res.pids_limit);
    }
    if (res.block_io && any_blkio(*res.block_io)) {
      auto [v, dir] = layout_.find("blkio") >= 0 ? need("blkio") : need("io");
      v == Version::kV1 ? v1::set_blkio(dir, *res.block_io) : v2::set_io(dir, *res.block_io);
    }
    if (!res.hugepage_limits.empty()) {
      auto [v, dir] = need("hugetlb");
      v == Version::kV1 ? v1::set_hugetlb(dir, res.hugepage_limits) : v2::set_hugetlb(dir, res.hugepage_limits);
    }
    if (res.network) {
      // Tagging rather than limits; like runc on v2, skipped where the
      // controllers are not mounted.
      if (res.network->class_id && dir_of("net_cls")) v1::set_net_cls(*dir_of("net_cls"), *res.network->class_id);
      if (!res.network->priorities.empty() && dir_of("net_prio"))
        v1::set_net_prio(*dir_of("net_prio"), res.network->priorities);
    }
    if (!res.devices.empty()) apply_devices(res.devices);
    if (!res.unified.empty()) {
      // Written last so explicit unified values override the converted ones.
      int u = layout_.unified();
      if (u < 0 || dirs_[u].empty()) fail("cgroup: linux.resources.unified needs cgroup v2, this host has v1 only");
      if (layout_.has_v1()) {
        // Hybrid: only files of controllers on the unified hierarchy (and
        // core cgroup.* files) exist there.
        for (const auto& [key, value] : res.unified) {
          std::string controller = key.substr(0, key.find('.'));
          if (controller != "cgroup" && !layout_.hierarchies[u].has(controller))
            fail("cgroup: unified resource {:?}: the {} controller is not on the cgroup v2 hierarchy of this hybrid host",
                 key, controller);
        }
      }
      v2::set_unified(dirs_[u], res.unified);
    }
  }

  void add_process(pid_t pid, bool v2_only) override {
    for (size_t i = 0; i < dirs_.size(); ++i) {
      if (dirs_[i].empty() || (v2_only && layout_.hierarchies[i].version == Version::kV1)) continue;
      write_value(dirs_[i], "cgroup.procs", std::to_string(pid));
    }
  }

  std::string v2_dir() const override {
    int u = layout_.unified();
    return u >= 0 ? dirs_[u] : "";
  }

  std::vector<std::string> enter_v1_self() override {
    auto own = parse_proc_cgroup(read_file("/proc/self/cgroup"));
    std::vector<std::string> left;
    for (size_t i = 0; i < dirs_.size(); ++i) {
      const Hierarchy& h = layout_.hierarchies[i];
      if (dirs_[i].empty() || h.version != Version::kV1 || h.controllers.empty()) continue;
      auto it = own.find(h.controllers[0]);
      if (it == own.end()) continue;
      std::string path = it->second;
      if (h.root != "/" && path.rfind(h.root, 0) == 0) path = path.substr(h.root.size());
      left.push_back(clean_path(h.mount_point + "/" + path));
      write_value(dirs_[i], "tasks", "0");
    }
    return left;
  }

  void freeze() override {
    auto [v, dir] = freezer();
    v == Version::kV1 ? v1::freeze(dir) : v2::freeze(dir);
  }
  void thaw() override {
    auto [v, dir] = freezer();
    v == Version::kV1 ? v1::thaw(dir) : v2::thaw(dir);
  }
  bool frozen() override {
    auto [v, dir] = freezer();
    return v == Version::kV1 ? v1::frozen(dir) : v2::frozen(dir);
  }

  std::vector<pid_t> pids() override {
    std::vector<pid_t> out;
    collect_pids(primary_dir(), &out);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  nlohmann::json stats() override {
    using nlohmann::json;
    // Go's encoding of runc's types.Stats: struct members are always present.
    json cpu = {{"usage", {{"kernel", 0}, {"user", 0}}}, {"throttling", json::object()}};
    json memory = {{"usage", {{"limit", 0}, {"failcnt", 0}}}, {"swap", {{"limit", 0}, {"failcnt", 0}}},
                   {"kernel", {{"limit", 0}, {"failcnt", 0}}}, {"kernelTCP", {{"limit", 0}, {"failcnt", 0}}}};
    json pids = json::object(), blkio = json::object(), hugetlb = json::object();
    auto at = [&](std::string_view c) { return layout_.find(c); };
    auto each = [&](std::string_view c, auto fn1, auto fn2) {
      int i = at(c);
      if (i < 0 || dirs_[i].empty()) return;
      layout_.hierarchies[i].version == Version::kV1 ? fn1(dirs_[i]) : fn2(dirs_[i]);
    };
    if (!layout_.has_v1()) {
      // cpu.stat and friends exist whether or not the controller is enabled.
      const std::string& d = dirs_[layout_.unified()];
      v2::stats_cpu(d, cpu);
      v2::stats_memory(d, memory);
      v2::stats_pids(d, pids);
      v2::stats_io(d, blkio);
      v2::stats_hugetlb(d, hugetlb);
    } else {
      each("cpuacct", [&](const std::string& d) { v1::stats_cpuacct(d, cpu); }, [](const std::string&) {});
      each("cpu", [&](const std::string& d) { v1::stats_cpu(d, cpu); }, [&](const std::string& d) { v2::stats_cpu(d, cpu); });
      each("memory", [&](const std::string& d) { v1::stats_memory(d, memory); },
           [&](const std::string& d) { v2::stats_memory(d, memory); });
      each("pids", [&](const std::string& d) { v1::stats_pids(d, pids); },
           [&](const std::string& d) { v2::stats_pids(d, pids); });
      each("blkio", [&](const std::string& d) { v1::stats_blkio(d, blkio); }, [](const std::string&) {});
      each("io", [](const std::string&) {}, [&](const std::string& d) { v2::stats_io(d, blkio); });
      each("hugetlb", [&](const std::string& d) { v1::stats_hugetlb(d, hugetlb); },
           [&](const std::string& d) { v2::stats_hugetlb(d, hugetlb); });
    }
    return json{{"cpu", cpu}, {"memory", memory}, {"pids", pids}, {"blkio", blkio}, {"hugetlb", hugetlb}};
  }

  void destroy() override {
    std::string first_error;
    std::set<std::string> done;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (const auto& dir : dirs_) {
      if (dir.empty() || !done.insert(dir).second) continue;
      try {
        remove_tree(dir, deadline);
      } catch (const Error& e) {
        if (first_error.empty()) first_error = e.what();
      }
    }
    if (!first_error.empty()) throw Error(first_error);
  }

  std::map<std::string, std::string> paths() const override {
    // runc's state.json "cgroup_paths": every v1 controller (co-mounted ones
    // share a dir), "name=systemd", and "" for the unified hierarchy; on a
    // hybrid host also the controllers driven there.
    std::map<std::string, std::string> out;
    for (size_t i = 0; i < dirs_.size(); ++i) {
      if (dirs_[i].empty()) continue;
      const Hierarchy& h = layout_.hierarchies[i];
      if (h.version == Version::kV2) {
        out[""] = dirs_[i];
        if (!layout_.has_v1()) continue;
      }
      for (const auto& c : h.controllers) out[c] = dirs_[i];
    }
    return out;
  }

 private:
  const std::string* dir_of(std::string_view controller) const {
    int i = layout_.find(controller);
    return i >= 0 && !dirs_[i].empty() ? &dirs_[i] : nullptr;
  }

  std::pair<Version, std::string> need(std::string_view controller) const {
    int i = layout_.find(controller);
    if (i < 0 || dirs_[i].empty())
      fail("cgroup: the spec sets {} limits but the {} controller is not available on this host", controller,
           controller);
    return {layout_.hierarchies[i].version, dirs_[i]};
  }

  std::pair<Version, std::string> freezer() const {
    if (const std::string* d = dir_of("freezer")) return {Version::kV1, *d};
    int u = layout_.unified();
    // cgroup.freeze is core v2, not a controller (absent only in the root).
    if (u >= 0 && !dirs_[u].empty() && file_exists(dirs_[u], "cgroup.freeze")) return {Version::kV2, dirs_[u]};
    fail("cgroup: no freezer: neither a v1 freezer hierarchy nor cgroup.freeze is available");
  }

  void apply_devices(const std::vector<oci::DeviceCgroupRule>& rules) {
    DeviceRuleSet set = emulate_device_rules(rules);
    if (const std::string* d = dir_of("devices")) return v1::set_devices(*d, set);
    // v2 has no devices controller; BPF_CGROUP_DEVICE programs attached to
    // the unified cgroup do the job (on hybrid hosts too).
    int u = layout_.unified();
    if (u < 0 || dirs_[u].empty()) fail("cgroup: device rules set but no devices controller is available on this host");
    attach_device_filter(dirs_[u], set);
  }

  // Where pids() looks: runc uses the devices hierarchy on v1.
  const std::string& primary_dir() const {
    if (!layout_.has_v1()) return dirs_[layout_.unified()];
    for (std::string_view c : {"devices", "memory", "pids", "cpu", "freezer", "cpuset", "blkio", "name=systemd"})
      if (const std::string* d = dir_of(c)) return *d;
    for (const auto& d : dirs_)
      if (!d.empty()) return d;
    fail("cgroup: no cgroup directory");
  }

  Layout layout_;
  std::vector<std::string> dirs_;
};

}  // namespace

std::unique_ptr<Cgroup> make_cgroup(Layout layout, std::vector<std::string> dirs) {
  if (dirs.size() != layout.hierarchies.size()) fail("cgroup: internal error: {} dirs for {} hierarchies", dirs.size(),
                                                     layout.hierarchies.size());
  return std::make_unique<CgroupImpl>(std::move(layout), std::move(dirs));
}

}  // namespace cg

std::unique_ptr<Cgroup> Cgroup::open(const std::string& cgroups_path, const std::string& id, bool systemd) {
  cg::Layout layout = cg::detect_host_layout();
  std::string inner = cg::inner_path(cgroups_path, id, systemd);
  std::map<std::string, std::string> own;
  if (inner[0] != '/') own = cg::parse_proc_cgroup(read_file("/proc/self/cgroup"));
  std::vector<std::string> dirs = cg::map_dirs(layout, own, inner);
  return cg::make_cgroup(std::move(layout), std::move(dirs));
}

void Cgroup::leave_v1_self(const std::vector<std::string>& previous_dirs) {
  for (const auto& dir : previous_dirs) cg::write_value(dir, "tasks", "0");
}

std::unique_ptr<Cgroup> Cgroup::from_paths(const std::map<std::string, std::string>& paths) {
  cg::Layout layout = cg::detect_host_layout();
  std::vector<std::string> dirs(layout.hierarchies.size());
  for (const auto& [key, raw] : paths) {
    std::string dir = clean_path(raw);
    // The dir decides the hierarchy (the longest mount point above it), so
    // keys naming controllers driven elsewhere on hybrid hosts still work.
    int best = -1;
    for (size_t i = 0; i < layout.hierarchies.size(); ++i) {
      const std::string& mp = layout.hierarchies[i].mount_point;
      if (cg::under(dir, mp) && (best < 0 || mp.size() > layout.hierarchies[best].mount_point.size()))
        best = static_cast<int>(i);
    }
    if (best < 0) fail("cgroup: saved path {} ({:?}) is on no cgroup mount of this host", dir, key);
    if (!dirs[best].empty() && dirs[best] != dir)
      fail("cgroup: saved paths {} and {} are in the same hierarchy", dirs[best], dir);
    dirs[best] = dir;
  }
  return cg::make_cgroup(std::move(layout), std::move(dirs));
}

}  // namespace berth::runtime
