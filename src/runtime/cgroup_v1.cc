// Cgroup v1 controllers: limit writers, freezer and stats, one directory per
// controller hierarchy. As in runc, a zero memory/cpu value means "unset"
// (OCI documents several of them as "0 = default"), so it is not written.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <set>
#include <thread>

#include "base/error.h"
#include "base/strings.h"
#include "runtime/cgroup_internal.h"

namespace berth::runtime::cg::v1 {
namespace {

using nlohmann::json;

// ENOTSUPP: the kernel-internal "not supported" some kmem writes leak.
constexpr int kENOTSUPP = 524;

void set_nonzero(json& j, const char* key, uint64_t v) {
  if (v != 0) j[key] = v;
}

// Writes an optional knob: skipped when the kernel lacks the file or refuses
// it as unsupported (kmem limits: deprecated, no-ops or gone on new kernels;
// runc ignores them entirely).
void write_optional(const std::string& dir, const char* name, const std::string& value) {
  if (!file_exists(dir, name)) return;
  int err = try_write_value(dir, name, value);
  if (err == 0 || err == EOPNOTSUPP || err == kENOTSUPP) return;
  fail_write(dir, name, value, err);
}

// memory.limit_in_bytes refuses a limit below current usage with EBUSY; say
// why, as runc does.
void write_memory_limit(const std::string& dir, int64_t limit) {
  std::string v = std::to_string(limit);
  int err = try_write_value(dir, "memory.limit_in_bytes", v);
  if (err == 0) return;
  if (err == EBUSY)
    fail("cgroup: write {} to {}/memory.limit_in_bytes: limit below current usage {} (peak {})", v, dir,
         read_uint(dir, "memory.usage_in_bytes"), read_uint(dir, "memory.max_usage_in_bytes"));
  fail_write(dir, "memory.limit_in_bytes", v, err);
}

json memory_entry(const std::string& dir, const std::string& prefix) {
  json e = {{"limit", read_uint(dir, prefix + ".limit_in_bytes")}, {"failcnt", read_uint(dir, prefix + ".failcnt")}};
  set_nonzero(e, "usage", read_uint(dir, prefix + ".usage_in_bytes"));
  set_nonzero(e, "max", read_uint(dir, prefix + ".max_usage_in_bytes"));
  return e;
}

// "8:0 Read 4096" lines of the blkio *_recursive files.
json blkio_entries(const std::string& text) {
  json out = json::array();
  for (const auto& line : split(text, '\n')) {
    auto f = split(trim(line), ' ');
    if (f.size() != 3) continue;  // also skips the final "Total N"
    auto mm = split(f[0], ':');
    unsigned long long major = 0, minor = 0, value = 0;
    if (mm.size() != 2 || !parse_uint64(mm[0], &major) || !parse_uint64(mm[1], &minor) || !parse_uint64(f[2], &value))
      continue;
    json e = {{"op", f[1]}};
    set_nonzero(e, "major", major);
    set_nonzero(e, "minor", minor);
    set_nonzero(e, "value", value);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<uint64_t> numbers(const std::string& text) {
  std::vector<uint64_t> out;
  for (const auto& f : split(text, ' ')) {
    unsigned long long v = 0;
    if (parse_uint64(trim(f), &v)) out.push_back(v);
  }
  return out;
}

std::string freezer_state(const std::string& dir) { return read_value(dir, "freezer.state"); }

}  // namespace

void inherit_cpuset(const std::string& parent, const std::string& dir) {
  for (const char* name : {"cpuset.cpus", "cpuset.mems"}) {
    if (!read_value(dir, name).empty()) continue;
    write_value(dir, name, read_value(parent, name));
  }
}

void set_memory(const std::string& dir, const oci::MemoryResources& m) {
  int64_t limit = m.limit.value_or(0);
  int64_t swap = m.swap.value_or(0);
  // An unlimited memory limit with no swap setting lifts the swap limit too
  // (else the old memsw limit would still cap memory).
  if (limit == -1 && swap == 0 && file_exists(dir, "memory.memsw.limit_in_bytes")) swap = -1;
  auto write_swap = [&] {
    if (swap != 0) write_value(dir, "memory.memsw.limit_in_bytes", std::to_string(swap));
  };
  // The kernel keeps memsw.limit >= limit at every step, so when growing the
  // swap limit goes first and when shrinking the memory limit does.
  if (limit != 0 && swap != 0 &&
      (swap == -1 || read_uint(dir, "memory.limit_in_bytes") < static_cast<uint64_t>(swap))) {
    write_swap();
    write_memory_limit(dir, limit);
  } else {
    if (limit != 0) write_memory_limit(dir, limit);
    write_swap();
  }
  if (m.kernel && *m.kernel != 0) write_optional(dir, "memory.kmem.limit_in_bytes", std::to_string(*m.kernel));
  if (m.kernel_tcp && *m.kernel_tcp != 0)
    write_optional(dir, "memory.kmem.tcp.limit_in_bytes", std::to_string(*m.kernel_tcp));
  if (m.reservation && *m.reservation != 0)
    write_value(dir, "memory.soft_limit_in_bytes", std::to_string(*m.reservation));
  if (m.disable_oom_killer.value_or(false)) write_value(dir, "memory.oom_control", "1");
  if (m.swappiness && *m.swappiness != UINT64_MAX) {  // UINT64_MAX: -1, "kernel default"
    if (*m.swappiness > 100) fail("cgroup: invalid memory swappiness {}: the range is 0-100", *m.swappiness);
    write_value(dir, "memory.swappiness", std::to_string(*m.swappiness));
  }
}

void set_cpu(const std::string& dir, const oci::CpuResources& c) {
  if (c.shares && *c.shares != 0) {
    std::string v = std::to_string(*c.shares);
    write_value(dir, "cpu.shares", v);
    // The kernel clamps out-of-range shares silently; report it instead.
    uint64_t got = read_uint(dir, "cpu.shares");
    if (got != *c.shares) fail("cgroup: write {} to {}/cpu.shares: out of range, kernel set {}", v, dir, got);
  }
  // A period shorter than the current one can be refused (EINVAL) while the
  // old quota/new period ratio exceeds the parent's; retry after the quota.
  std::string period;
  int period_err = 0;
  if (c.period && *c.period != 0) {
    period = std::to_string(*c.period);
    period_err = try_write_value(dir, "cpu.cfs_period_us", period);
    if (period_err != 0 && period_err != EINVAL) fail_write(dir, "cpu.cfs_period_us", period, period_err);
  }
  if (c.quota && *c.quota != 0) write_value(dir, "cpu.cfs_quota_us", std::to_string(*c.quota));
  if (period_err != 0) write_value(dir, "cpu.cfs_period_us", period);
  if (c.burst && file_exists(dir, "cpu.cfs_burst_us")) write_value(dir, "cpu.cfs_burst_us", std::to_string(*c.burst));
  // The realtime period before the runtime, which must fit in it.
  if (c.realtime_period && *c.realtime_period != 0)
    write_value(dir, "cpu.rt_period_us", std::to_string(*c.realtime_period));
  if (c.realtime_runtime && *c.realtime_runtime != 0)
    write_value(dir, "cpu.rt_runtime_us", std::to_string(*c.realtime_runtime));
  if (c.idle) write_value(dir, "cpu.idle", std::to_string(*c.idle));
}

void set_cpuset(const std::string& dir, const oci::CpuResources& c) {
  if (!c.cpus.empty()) write_value(dir, "cpuset.cpus", c.cpus);
  if (!c.mems.empty()) write_value(dir, "cpuset.mems", c.mems);
}

void set_pids(const std::string& dir, int64_t limit) {
  // 0 and -1 both mean unlimited (docker --pids-limit semantics).
  write_value(dir, "pids.max", limit > 0 ? std::to_string(limit) : "max");
}

void set_blkio(const std::string& dir, const oci::BlockIoResources& b) {
  // Kernels without CFQ have only the BFQ knobs.
  bool bfq = file_exists(dir, "blkio.bfq.weight") && !file_exists(dir, "blkio.weight");
  const char* weight_file = bfq ? "blkio.bfq.weight" : "blkio.weight";
  const char* weight_device_file = bfq ? "blkio.bfq.weight_device" : "blkio.weight_device";
  if (b.weight && *b.weight != 0) write_value(dir, weight_file, std::to_string(*b.weight));
  if (b.leaf_weight && *b.leaf_weight != 0) write_value(dir, "blkio.leaf_weight", std::to_string(*b.leaf_weight));
  for (const auto& wd : b.weight_device) {
    if (wd.weight) write_value(dir, weight_device_file, fmt::format("{}:{} {}", wd.major, wd.minor, *wd.weight));
    if (wd.leaf_weight)
      write_value(dir, "blkio.leaf_weight_device", fmt::format("{}:{} {}", wd.major, wd.minor, *wd.leaf_weight));
  }
  auto throttle = [&](const std::vector<oci::ThrottleDevice>& list, const char* file) {
    for (const auto& t : list) write_value(dir, file, fmt::format("{}:{} {}", t.major, t.minor, t.rate));
  };
  throttle(b.throttle_read_bps, "blkio.throttle.read_bps_device");
  throttle(b.throttle_write_bps, "blkio.throttle.write_bps_device");
  throttle(b.throttle_read_iops, "blkio.throttle.read_iops_device");
  throttle(b.throttle_write_iops, "blkio.throttle.write_iops_device");
}

void set_hugetlb(const std::string& dir, const std::vector<oci::HugepageLimit>& limits) {
  for (const auto& l : limits) {
    std::string v = std::to_string(l.limit);
    write_value(dir, fmt::format("hugetlb.{}.limit_in_bytes", l.page_size), v);
    // Reservations count against the limit too where the kernel has them.
    std::string rsvd = fmt::format("hugetlb.{}.rsvd.limit_in_bytes", l.page_size);
    if (file_exists(dir, rsvd)) write_value(dir, rsvd, v);
  }
}

void set_net_cls(const std::string& dir, uint32_t class_id) {
  write_value(dir, "net_cls.classid", std::to_string(class_id));
}

void set_net_prio(const std::string& dir, const std::vector<std::pair<std::string, uint32_t>>& prios) {
  for (const auto& [iface, prio] : prios) write_value(dir, "net_prio.ifpriomap", fmt::format("{} {}", iface, prio));
}

void set_devices(const std::string& dir, const DeviceRuleSet& set) {
  std::set<std::string> want;
  for (const auto& r : set.exceptions) want.insert(device_rule_line(r));
  // devices.list shows "a *:* rwm" for default-allow (hiding its deny
  // exceptions) and the allow exceptions otherwise. Leaving an equal state
  // alone avoids the deny-everything window of the rewrite below for a
  // running container (e.g. `update` without device changes).
  std::set<std::string> have;
  for (const auto& line : split(read_value(dir, "devices.list"), '\n'))
    if (!trim(line).empty()) have.insert(std::string(trim(line)));
  if (set.default_allow ? (want.empty() && have == std::set<std::string>{"a *:* rwm"}) : have == want) return;
  // Reset the default ("a" clears every exception), then add the exceptions:
  // runc's order, "deny all" first so nothing is allowed by accident.
  write_value(dir, set.default_allow ? "devices.allow" : "devices.deny", "a");
  for (const auto& r : set.exceptions)
    write_value(dir, set.default_allow ? "devices.deny" : "devices.allow", device_rule_line(r));
}

void freeze(const std::string& dir) {
  // FREEZING can last a while, and can get stuck for a task inside vfork();
  // runc's remedy: keep rewriting FROZEN, thaw and retry now and then.
  for (int i = 0; i < 1000; ++i) {
    if (i % 50 == 49) {
      write_value(dir, "freezer.state", "THAWED");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    write_value(dir, "freezer.state", "FROZEN");
    if (freezer_state(dir) == "FROZEN") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(i < 100 ? 1 : 10));
  }
  write_value(dir, "freezer.state", "THAWED");
  fail("cgroup: freeze {}: still FREEZING after 1000 attempts", dir);
}

void thaw(const std::string& dir) {
  for (int i = 0; i < 1000; ++i) {
    write_value(dir, "freezer.state", "THAWED");
    if (freezer_state(dir) == "THAWED") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  fail("cgroup: thaw {}: not THAWED after 1000 attempts", dir);
}

bool frozen(const std::string& dir) { return freezer_state(dir) == "FROZEN"; }

void stats_cpuacct(const std::string& dir, json& cpu) {
  json& usage = cpu["usage"];
  std::string text;
  if (read_value_if_exists(dir, "cpuacct.usage", &text)) set_nonzero(usage, "total", read_uint(dir, "cpuacct.usage"));
  if (read_value_if_exists(dir, "cpuacct.usage_percpu", &text)) {
    auto v = numbers(text);
    if (!v.empty()) usage["percpu"] = v;
  }
  if (read_value_if_exists(dir, "cpuacct.usage_all", &text)) {
    // "cpu user system" header, then one line per cpu.
    std::vector<uint64_t> user, kernel;
    for (const auto& line : split(text, '\n')) {
      auto v = numbers(line);
      if (v.size() != 3) continue;
      user.push_back(v[1]);
      kernel.push_back(v[2]);
    }
    if (!kernel.empty()) usage["percpu_kernel"] = kernel;
    if (!user.empty()) usage["percpu_user"] = user;
  }
  if (read_value_if_exists(dir, "cpuacct.stat", &text)) {
    // In clock ticks; runc reports nanoseconds.
    auto kv = parse_flat_keyed(text);
    uint64_t hz = static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
    if (hz == 0) hz = 100;
    usage["user"] = kv["user"] * 1000000000ULL / hz;
    usage["kernel"] = kv["system"] * 1000000000ULL / hz;
  }
}

void stats_cpu(const std::string& dir, json& cpu) {
  std::string text;
  if (!read_value_if_exists(dir, "cpu.stat", &text)) return;
  auto kv = parse_flat_keyed(text);
  json& t = cpu["throttling"];
  set_nonzero(t, "periods", kv["nr_periods"]);
  set_nonzero(t, "throttledPeriods", kv["nr_throttled"]);
  set_nonzero(t, "throttledTime", kv["throttled_time"]);
}

void stats_memory(const std::string& dir, json& memory) {
  std::string text;
  if (read_value_if_exists(dir, "memory.stat", &text)) {
    auto raw = parse_flat_keyed(text);
    set_nonzero(memory, "cache", raw["cache"]);
    if (!raw.empty()) memory["raw"] = raw;
  }
  memory["usage"] = memory_entry(dir, "memory");
  // Swap and kmem accounting are optional in the kernel.
  if (file_exists(dir, "memory.memsw.usage_in_bytes")) memory["swap"] = memory_entry(dir, "memory.memsw");
  if (file_exists(dir, "memory.kmem.usage_in_bytes")) memory["kernel"] = memory_entry(dir, "memory.kmem");
  if (file_exists(dir, "memory.kmem.tcp.usage_in_bytes")) memory["kernelTCP"] = memory_entry(dir, "memory.kmem.tcp");
}

void stats_pids(const std::string& dir, json& pids) {
  std::string text;
  if (read_value_if_exists(dir, "pids.current", &text)) set_nonzero(pids, "current", read_uint(dir, "pids.current"));
  if (read_value_if_exists(dir, "pids.max", &text) && text != "max") set_nonzero(pids, "limit", read_uint(dir, "pids.max"));
}

void stats_blkio(const std::string& dir, json& blkio) {
  // Prefer CFQ's files, then BFQ's, then the throttle layer's (always there).
  std::string prefix = "blkio.throttle.";
  if (file_exists(dir, "blkio.io_service_bytes_recursive"))
    prefix = "blkio.";
  else if (file_exists(dir, "blkio.bfq.io_service_bytes_recursive"))
    prefix = "blkio.bfq.";
  std::string text;
  if (read_value_if_exists(dir, prefix + "io_service_bytes_recursive", &text)) {
    json e = blkio_entries(text);
    if (!e.empty()) blkio["ioServiceBytesRecursive"] = std::move(e);
  }
  if (read_value_if_exists(dir, prefix + "io_serviced_recursive", &text)) {
    json e = blkio_entries(text);
    if (!e.empty()) blkio["ioServicedRecursive"] = std::move(e);
  }
}

void stats_hugetlb(const std::string& dir, json& hugetlb) {
  for (const auto& size : hugepage_sizes()) {
    std::string prefix = "hugetlb." + size;
    if (!file_exists(dir, prefix + ".usage_in_bytes")) continue;
    json e = {{"failcnt", read_uint(dir, prefix + ".failcnt")}};
    set_nonzero(e, "usage", read_uint(dir, prefix + ".usage_in_bytes"));
    set_nonzero(e, "max", read_uint(dir, prefix + ".max_usage_in_bytes"));
    hugetlb[size] = std::move(e);
  }
}

}  // namespace berth::runtime::cg::v1
