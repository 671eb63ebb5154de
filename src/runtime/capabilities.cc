#include "runtime/capabilities.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/capability.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::runtime {

int capability_from_name(const std::string& name) {
  std::string lower = name;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.rfind("cap_", 0) != 0) return -1;
  cap_value_t v;
  if (cap_from_name(lower.c_str(), &v) != 0) return -1;
  // libcap also accepts plain numbers and names with trailing characters
  // ("cap_sys_admin2"); a name must be exactly a capability's name.
  long long n;
  if (parse_int64(lower.substr(4), &n)) return -1;
  char* canonical = cap_to_name(v);
  bool exact = canonical && lower == canonical;
  cap_free(canonical);
  return exact ? v : -1;
}

std::string capability_name(int cap) {
  char* n = cap_to_name(static_cast<cap_value_t>(cap));
  std::string out = n ? n : "";
  cap_free(n);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

int last_capability() {
  std::string text;
  long long n;
  if (read_file_if_exists("/proc/sys/kernel/cap_last_cap", &text) && parse_int64(trim(text), &n)) return static_cast<int>(n);
  return CAP_LAST_CAP;
}

std::vector<std::string> all_capability_names() {
  std::vector<std::string> out;
  for (int c = 0; c <= CAP_LAST_CAP; ++c) out.push_back(capability_name(c));
  return out;
}

CapabilitySets parse_capabilities(const oci::Capabilities& caps) {
  int last = last_capability();
  auto set = [&](const std::vector<std::string>& names, const char* which) {
    uint64_t bits = 0;
    for (const auto& n : names) {
      int c = capability_from_name(n);
      if (c < 0) fail("process.capabilities.{}: unknown capability {:?}", which, n);
      if (c > last) continue;
      bits |= 1ULL << c;
    }
    return bits;
  };
  CapabilitySets s;
  s.bounding = set(caps.bounding, "bounding");
  s.effective = set(caps.effective, "effective");
  s.inheritable = set(caps.inheritable, "inheritable");
  s.permitted = set(caps.permitted, "permitted");
  s.ambient = set(caps.ambient, "ambient");
  return s;
}

int drop_bounding(uint64_t bounding) {
  int last = last_capability();
  for (int c = 0; c <= last; ++c) {
    if (bounding & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) return -errno;
  }
  return 0;
}

int apply_capabilities(const CapabilitySets& s) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(s.effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(s.permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(s.inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) != 0) return -errno;
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -errno;
  int last = last_capability();
  for (int c = 0; c <= last; ++c) {
    if (!(s.ambient & (1ULL << c))) continue;
    // Raising fails unless the cap is also permitted+inheritable; runc ignores that too.
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  }
  return 0;
}

}  // namespace berth::runtime
