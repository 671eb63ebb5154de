#include "engine/docker_caps.h"

#include <sys/prctl.h>

#include <algorithm>
#include <cctype>

#include "base/error.h"
#include "runtime/capabilities.h"

namespace berth::engine {
namespace {

constexpr const char* kAll = "ALL";

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void add_unique(std::vector<std::string>* v, const std::string& s) {
  if (!contains(*v, s)) v->push_back(s);
}

std::vector<std::string> normalize_all(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) add_unique(&out, normalize_capability(n));
  return out;
}

}  // namespace

const std::vector<std::string>& docker_default_capabilities() {
  static const std::vector<std::string> kDefaults = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",      "CAP_MKNOD",
      "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP",     "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  return kDefaults;
}

std::vector<std::string> kernel_capabilities() {
  std::vector<std::string> out;
  int last = runtime::last_capability();
  for (const auto& name : runtime::all_capability_names())
    if (int bit = runtime::capability_from_name(name); bit <= last && ::prctl(PR_CAPBSET_READ, bit, 0, 0, 0) == 1)
      out.push_back(name);
  return out;
}

std::string normalize_capability(const std::string& name) {
  std::string upper = name;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == kAll) return upper;
  if (upper.rfind("CAP_", 0) != 0) upper = "CAP_" + upper;
  // Unknown to the kernel counts as unknown, as docker checks against the
  // capabilities the host supports.
  int bit = runtime::capability_from_name(upper);
  if (bit < 0 || bit > runtime::last_capability()) fail("unknown capability: \"{}\"", upper);
  return upper;
}

std::vector<std::string> docker_capabilities(const std::vector<std::string>& cap_add,
                                             const std::vector<std::string>& cap_drop, bool privileged) {
  if (privileged) return kernel_capabilities();
  std::vector<std::string> add = normalize_all(cap_add);
  std::vector<std::string> drop = normalize_all(cap_drop);
  std::vector<std::string> out;
  if (contains(add, kAll)) {
    // Everything except what is dropped ("--cap-add ALL --cap-drop X").
    for (const auto& c : kernel_capabilities())
      if (!contains(drop, c)) out.push_back(c);
    return out;
  }
  if (!contains(drop, kAll)) {
    for (const auto& c : docker_default_capabilities())
      if (!contains(drop, c)) out.push_back(c);
  }
  // With "--cap-drop ALL" only the added ones remain.
  for (const auto& c : add) add_unique(&out, c);
  return out;
}

}  // namespace berth::engine
