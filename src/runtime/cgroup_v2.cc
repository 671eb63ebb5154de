// Cgroup v2 controllers: limit writers, freezer and stats on the unified
// hierarchy. OCI values are in v1 terms (shares, memory+swap, blkio weight)
// and are converted as runc converts them, so both runtimes agree.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <thread>

#include "base/error.h"
#include "base/strings.h"
#include "runtime/cgroup_internal.h"

namespace berth::runtime::cg::v2 {
namespace {

using nlohmann::json;

void set_nonzero(json& j, const char* key, uint64_t v) {
  if (v != 0) j[key] = v;
}

// -1 is v1's "unlimited"; v2 spells it "max".
std::string limit_value(int64_t v) { return v == -1 ? "max" : std::to_string(v); }

std::map<std::string, uint64_t> read_flat(const std::string& dir, const std::string& name) {
  std::string text;
  if (!read_value_if_exists(dir, name, &text)) return {};
  return parse_flat_keyed(text);
}

// Polls cgroup.events until "frozen" reads `want`; the kernel freezes tasks
// asynchronously.
void wait_frozen(const std::string& dir, bool want) {
  for (int waited = 0; waited < 10000; ++waited) {
    if (frozen(dir) == want) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  fail("cgroup: {} {}: cgroup.events still says frozen {}", want ? "freeze" : "thaw", dir, want ? 0 : 1);
}

}  // namespace

void enable_controllers(const std::string& dir) {
  std::string offered, enabled;
  if (!read_value_if_exists(dir, "cgroup.controllers", &offered)) return;
  read_value_if_exists(dir, "cgroup.subtree_control", &enabled);
  std::vector<std::string> have = split(enabled, ' ');
  std::vector<std::string> add;
  for (const auto& c : split(offered, ' '))
    if (!c.empty() && std::find(have.begin(), have.end(), c) == have.end()) add.push_back("+" + c);
  if (add.empty()) return;
  if (try_write_value(dir, "cgroup.subtree_control", join(add, " ")) == 0) return;
  // One failing controller (e.g. cpu with realtime tasks around) fails the
  // whole write; enable the rest one by one.
  for (const auto& c : add) try_write_value(dir, "cgroup.subtree_control", c);
}

void set_memory(const std::string& dir, const oci::MemoryResources& m) {
  int64_t limit = m.limit.value_or(0);
  int64_t reservation = m.reservation.value_or(0);
  int64_t swap = memory_swap_to_v2(m.swap.value_or(0), limit);
  if (m.check_before_update.value_or(false) && limit > 0) {
    uint64_t usage = read_uint(dir, "memory.current");
    if (usage >= static_cast<uint64_t>(limit))
      fail("cgroup: memory limit {} is not above current usage {} of {}", limit, usage, dir);
  }
  // memory.swap.max is independent of memory.max on v2, so no ordering.
  // Written when swap was given, or when it follows an unlimited limit and
  // the kernel accounts swap at all.
  if (m.swap.value_or(0) != 0 || (swap == -1 && file_exists(dir, "memory.swap.max")))
    write_value(dir, "memory.swap.max", limit_value(swap));
  if (limit != 0) write_value(dir, "memory.max", limit_value(limit));
  if (reservation != 0) write_value(dir, "memory.low", limit_value(reservation));
  if (m.swappiness && *m.swappiness != UINT64_MAX && *m.swappiness > 100)
    fail("cgroup: invalid memory swappiness {}: the range is 0-100", *m.swappiness);
  // kernel, kernel_tcp, swappiness and disable_oom_killer have no v2
  // equivalent; runc ignores them too.
}

void set_cpu(const std::string& dir, const oci::CpuResources& c) {
  if (c.realtime_runtime.value_or(0) != 0 || c.realtime_period.value_or(0) != 0)
    fail("cgroup: cpu realtime runtime/period are not supported on cgroup v2 ({})", dir);
  if (uint64_t w = cpu_shares_to_weight(c.shares.value_or(0))) write_value(dir, "cpu.weight", std::to_string(w));
  if (c.idle) write_value(dir, "cpu.idle", std::to_string(*c.idle));
  int64_t quota = c.quota.value_or(0);
  uint64_t period = c.period.value_or(0);
  if (quota != 0 || period != 0) {
    // "max" for no quota; the kernel's default period when none is given.
    std::string v = quota > 0 ? std::to_string(quota) : "max";
    v += " " + std::to_string(period != 0 ? period : 100000);
    write_value(dir, "cpu.max", v);
  }
  if (c.burst && file_exists(dir, "cpu.max.burst")) write_value(dir, "cpu.max.burst", std::to_string(*c.burst));
}

void set_cpuset(const std::string& dir, const oci::CpuResources& c) {
  if (!c.cpus.empty()) write_value(dir, "cpuset.cpus", c.cpus);
  if (!c.mems.empty()) write_value(dir, "cpuset.mems", c.mems);
}

void set_pids(const std::string& dir, int64_t limit) {
  write_value(dir, "pids.max", limit > 0 ? std::to_string(limit) : "max");
}

void set_io(const std::string& dir, const oci::BlockIoResources& b) {
  // With BFQ, io.bfq.weight takes the blkio weight range as is; otherwise
  // io.weight needs the conversion to its 1..10000 range.
  bool bfq = file_exists(dir, "io.bfq.weight");
  if (b.weight && *b.weight != 0) {
    if (bfq)
      write_value(dir, "io.bfq.weight", std::to_string(*b.weight));
    else
      write_value(dir, "io.weight", std::to_string(blkio_weight_to_io_weight(*b.weight)));
  }
  for (const auto& wd : b.weight_device) {
    if (!wd.weight) continue;  // leaf weights have no v2 equivalent
    if (bfq)
      write_value(dir, "io.bfq.weight", fmt::format("{}:{} {}", wd.major, wd.minor, *wd.weight));
    else
      write_value(dir, "io.weight", fmt::format("{}:{} {}", wd.major, wd.minor, blkio_weight_to_io_weight(*wd.weight)));
  }
  auto throttle = [&](const std::vector<oci::ThrottleDevice>& list, const char* key) {
    for (const auto& t : list) write_value(dir, "io.max", fmt::format("{}:{} {}={}", t.major, t.minor, key, t.rate));
  };
  throttle(b.throttle_read_bps, "rbps");
  throttle(b.throttle_write_bps, "wbps");
  throttle(b.throttle_read_iops, "riops");
  throttle(b.throttle_write_iops, "wiops");
}

void set_hugetlb(const std::string& dir, const std::vector<oci::HugepageLimit>& limits) {
  for (const auto& l : limits) {
    std::string v = std::to_string(l.limit);
    write_value(dir, fmt::format("hugetlb.{}.max", l.page_size), v);
    std::string rsvd = fmt::format("hugetlb.{}.rsvd.max", l.page_size);
    if (file_exists(dir, rsvd)) write_value(dir, rsvd, v);
  }
}

void set_unified(const std::string& dir, const std::map<std::string, std::string>& unified) {
  for (const auto& [key, value] : unified) {
    // Keys name files in this cgroup only.
    if (key.empty() || key.find('/') != std::string::npos || key == "." || key == ".." ||
        key.find('.') == std::string::npos)
      fail("cgroup: invalid linux.resources.unified key {:?}", key);
    write_value(dir, key, value);
  }
}

void freeze(const std::string& dir) {
  write_value(dir, "cgroup.freeze", "1");
  wait_frozen(dir, true);
}

void thaw(const std::string& dir) {
  write_value(dir, "cgroup.freeze", "0");
  wait_frozen(dir, false);
}

bool frozen(const std::string& dir) { return read_flat(dir, "cgroup.events")["frozen"] == 1; }

void stats_cpu(const std::string& dir, json& cpu) {
  auto kv = read_flat(dir, "cpu.stat");
  if (kv.empty()) return;
  json& usage = cpu["usage"];
  // usec on v2, nsec in runc's output.
  set_nonzero(usage, "total", kv["usage_usec"] * 1000);
  usage["user"] = kv["user_usec"] * 1000;
  usage["kernel"] = kv["system_usec"] * 1000;
  json& t = cpu["throttling"];
  set_nonzero(t, "periods", kv["nr_periods"]);
  set_nonzero(t, "throttledPeriods", kv["nr_throttled"]);
  set_nonzero(t, "throttledTime", kv["throttled_usec"] * 1000);
}

void stats_memory(const std::string& dir, json& memory) {
  auto raw = read_flat(dir, "memory.stat");
  if (!raw.empty()) {
    set_nonzero(memory, "cache", raw["file"]);
    memory["raw"] = raw;
  }
  if (!file_exists(dir, "memory.current")) return;  // memory controller not enabled
  uint64_t usage = read_uint(dir, "memory.current");
  uint64_t limit = read_uint(dir, "memory.max");
  json u = {{"limit", limit}, {"failcnt", read_flat(dir, "memory.events")["max"]}};
  set_nonzero(u, "usage", usage);
  if (file_exists(dir, "memory.peak")) set_nonzero(u, "max", read_uint(dir, "memory.peak"));
  memory["usage"] = std::move(u);
  if (file_exists(dir, "memory.swap.current")) {
    // runc reports v1's memory+swap numbers for compatibility.
    uint64_t swap_limit = read_uint(dir, "memory.swap.max");
    if (swap_limit != UINT64_MAX && limit != UINT64_MAX) swap_limit += limit;
    json s = {{"limit", swap_limit}, {"failcnt", read_flat(dir, "memory.swap.events")["max"]}};
    set_nonzero(s, "usage", read_uint(dir, "memory.swap.current") + usage);
    memory["swap"] = std::move(s);
  }
}

void stats_pids(const std::string& dir, json& pids) {
  std::string text;
  if (read_value_if_exists(dir, "pids.current", &text)) set_nonzero(pids, "current", read_uint(dir, "pids.current"));
  if (read_value_if_exists(dir, "pids.max", &text) && text != "max") set_nonzero(pids, "limit", read_uint(dir, "pids.max"));
}

void stats_io(const std::string& dir, json& blkio) {
  std::string text;
  if (!read_value_if_exists(dir, "io.stat", &text)) return;
  // "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0", mapped onto v1's
  // Read/Write tables as runc does.
  json bytes = json::array(), ios = json::array();
  for (const auto& line : split(text, '\n')) {
    auto f = split(trim(line), ' ');
    auto mm = split(f[0], ':');
    unsigned long long major = 0, minor = 0;
    if (mm.size() != 2 || !parse_uint64(mm[0], &major) || !parse_uint64(mm[1], &minor)) continue;
    for (size_t i = 1; i < f.size(); ++i) {
      auto kv = split(f[i], '=');
      unsigned long long v = 0;
      if (kv.size() != 2 || !parse_uint64(kv[1], &v)) continue;
      json* table = kv[0] == "rbytes" || kv[0] == "wbytes" ? &bytes : kv[0] == "rios" || kv[0] == "wios" ? &ios : nullptr;
      if (!table) continue;
      json e = {{"op", kv[0][0] == 'r' ? "Read" : "Write"}};
      set_nonzero(e, "major", major);
      set_nonzero(e, "minor", minor);
      set_nonzero(e, "value", v);
      table->push_back(std::move(e));
    }
  }
  if (!bytes.empty()) blkio["ioServiceBytesRecursive"] = std::move(bytes);
  if (!ios.empty()) blkio["ioServicedRecursive"] = std::move(ios);
}

void stats_hugetlb(const std::string& dir, json& hugetlb) {
  for (const auto& size : hugepage_sizes()) {
    std::string prefix = "hugetlb." + size;
    if (!file_exists(dir, prefix + ".current")) continue;
    json e = {{"failcnt", read_flat(dir, prefix + ".events")["max"]}};
    set_nonzero(e, "usage", read_uint(dir, prefix + ".current"));
    hugetlb[size] = std::move(e);
  }
}

}  // namespace berth::runtime::cg::v2
