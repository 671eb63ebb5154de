#include "runtime/rlimits.h"

#include <cerrno>
#include <utility>

#include "base/error.h"

namespace berth::runtime {
namespace {

// The kernel's resource numbers have no name table in any library.
constexpr std::pair<const char*, int> kResources[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},       {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_STACK", RLIMIT_STACK},     {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},     {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

}  // namespace

std::vector<ResolvedRlimit> parse_rlimits(const std::vector<oci::Rlimit>& in) {
  std::vector<ResolvedRlimit> out;
  for (const auto& r : in) {
    int res = -1;
    for (const auto& [name, num] : kResources)
      if (r.type == name) res = num;
    if (res < 0) fail("process.rlimits: unknown rlimit type {:?}", r.type);
    if (r.soft > r.hard) fail("process.rlimits: {}: soft limit {} exceeds hard limit {}", r.type, r.soft, r.hard);
    for (const auto& seen : out)
      if (seen.resource == res) fail("process.rlimits: {} given twice", r.type);
    ResolvedRlimit rl;
    rl.resource = res;
    rl.limit.rlim_cur = r.soft;
    rl.limit.rlim_max = r.hard;
    out.push_back(rl);
  }
  return out;
}

int apply_rlimits(const std::vector<ResolvedRlimit>& limits) {
  for (const auto& l : limits) {
    if (setrlimit(static_cast<__rlimit_resource>(l.resource), &l.limit) == 0) continue;
    if (errno != EPERM) return -errno;
    struct rlimit cur;
    if (getrlimit(static_cast<__rlimit_resource>(l.resource), &cur) != 0) return -errno;
    struct rlimit clamped = l.limit;
    if (clamped.rlim_max > cur.rlim_max) clamped.rlim_max = cur.rlim_max;
    if (clamped.rlim_cur > clamped.rlim_max) clamped.rlim_cur = clamped.rlim_max;
    if (setrlimit(static_cast<__rlimit_resource>(l.resource), &clamped) != 0) return -errno;
  }
  return 0;
}

}  // namespace berth::runtime
