// Cgroup file access and the unit conversions shared by v1 and v2.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "runtime/cgroup_internal.h"

namespace berth::runtime::cg {

int try_write_value(const std::string& dir, std::string_view name, std::string_view value) {
  std::string path = path_join(dir, name);
  // O_TRUNC as runc does: harmless on cgroupfs, and keeps the fake trees in
  // tests readable.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd.valid()) return errno;
  while (true) {
    ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    // cgroupfs consumes a write whole or fails it; a short write means the
    // kernel took only part of the command.
    return static_cast<size_t>(n) == value.size() ? 0 : EIO;
  }
}

void fail_write(const std::string& dir, std::string_view name, std::string_view value, int err) {
  fail("cgroup: write {} to {}: {}", value, path_join(dir, name), strerror_text(err));
}

void write_value(const std::string& dir, std::string_view name, std::string_view value) {
  if (int err = try_write_value(dir, name, value)) fail_write(dir, name, value, err);
}

bool file_exists(const std::string& dir, std::string_view name) { return path_exists(path_join(dir, name)); }

std::string read_value(const std::string& dir, std::string_view name) {
  std::string out;
  if (!read_value_if_exists(dir, name, &out)) fail("cgroup: read {}: no such file or directory", path_join(dir, name));
  return out;
}

bool read_value_if_exists(const std::string& dir, std::string_view name, std::string* out) {
  std::string path = path_join(dir, name);
  std::string text;
  try {
    if (!read_file_if_exists(path, &text)) return false;
  } catch (const Error& e) {
    throw e.wrap("cgroup");
  }
  *out = std::string(trim(text));
  return true;
}

uint64_t read_uint(const std::string& dir, std::string_view name) {
  std::string v = read_value(dir, name);
  if (v == "max") return UINT64_MAX;
  unsigned long long n = 0;
  if (!parse_uint64(v, &n)) {
    // v1 reports "-1"-like values for some unlimited knobs on old kernels.
    long long s = 0;
    if (parse_int64(v, &s) && s < 0) return UINT64_MAX;
    fail("cgroup: read {}: not a number: {}", path_join(dir, name), v);
  }
  return n;
}

std::map<std::string, uint64_t> parse_flat_keyed(const std::string& text) {
  std::map<std::string, uint64_t> out;
  for (const auto& line : split(text, '\n')) {
    auto f = split(trim(line), ' ');
    unsigned long long v = 0;
    if (f.size() == 2 && parse_uint64(f[1], &v)) out[f[0]] = v;
  }
  return out;
}

uint64_t cpu_shares_to_weight(uint64_t shares) {
  if (shares == 0) return 0;
  // Maps the v1 range [2, 262144] linearly onto [1, 10000] (runc's formula,
  // so `runc update` and berth agree on the resulting weight).
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkio_weight_to_io_weight(uint64_t weight) {
  if (weight == 0) return 0;
  // [10, 1000] onto [1, 10000], as runc.
  if (weight < 10) weight = 10;
  if (weight > 1000) weight = 1000;
  return 1 + (weight - 10) * 9999 / 990;
}

int64_t memory_swap_to_v2(int64_t swap, int64_t limit) {
  // v1 compatibility: an unlimited memory limit with no swap setting means
  // "both unlimited".
  if (limit == -1 && swap == 0) return -1;
  if (swap == -1 || swap == 0) return swap;
  if (limit == 0 || limit == -1) fail("cgroup: memory swap limit {} needs a memory limit", swap);
  if (limit < 0) fail("cgroup: invalid memory limit {}", limit);
  if (swap < limit) fail("cgroup: memory+swap limit {} is lower than the memory limit {}", swap, limit);
  return swap - limit;
}

std::string hugepage_size_name(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  return fmt::format("{:g}{}", v, kUnits[unit]);
}

std::vector<std::string> hugepage_sizes() {
  std::vector<std::string> out;
  DIR* d = ::opendir("/sys/kernel/mm/hugepages");
  if (!d) return out;  // kernel without hugetlbfs: no sizes
  while (struct dirent* e = ::readdir(d)) {
    // "hugepages-2048kB"
    std::string_view n(e->d_name);
    if (!n.starts_with("hugepages-") || !n.ends_with("kB")) continue;
    n.remove_prefix(10);
    n.remove_suffix(2);
    unsigned long long kb = 0;
    if (parse_uint64(n, &kb)) out.push_back(hugepage_size_name(kb * 1024));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace berth::runtime::cg
