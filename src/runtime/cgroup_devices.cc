// Device rules: reduces the spec's ordered allow/deny list to one default
// plus exceptions, the form both the v1 devices controller and the v2 BPF
// filter take. Same semantics as the v1 kernel (and runc's emulator), so a
// spec behaves alike on v1, v2 and hybrid hosts.
#include <algorithm>

#include "base/error.h"
#include "runtime/cgroup_internal.h"

namespace berth::runtime::cg {
namespace {

unsigned parse_access(const std::string& access) {
  if (access.empty()) fail("cgroup: device rule access must not be empty");
  unsigned bits = 0;
  for (char c : access) {
    switch (c) {
      case 'r': bits |= kDevRead; break;
      case 'w': bits |= kDevWrite; break;
      case 'm': bits |= kDevMknod; break;
      default: fail("cgroup: invalid device access {:?}", access);
    }
  }
  return bits;
}

bool same_node(const DeviceRule& a, const DeviceRule& b) {
  return a.type == b.type && a.major == b.major && a.minor == b.minor;
}

void add_exception(DeviceRuleSet& set, const DeviceRule& rule) {
  for (auto& e : set.exceptions) {
    if (same_node(e, rule)) {
      e.access |= rule.access;
      return;
    }
  }
  set.exceptions.push_back(rule);
}

void remove_exception(DeviceRuleSet& set, const DeviceRule& rule) {
  // v1 silently keeps a wildcard exception that partly covers the rule
  // ("c *:* m" stays when "c 1:3 m" is removed), which would leave access the
  // spec asked to take away; refuse, as runc does.
  for (const auto& e : set.exceptions) {
    if (same_node(e, rule) || e.type != rule.type || !(e.access & rule.access)) continue;
    bool covers = (e.major == -1 || e.major == rule.major) && (e.minor == -1 || e.minor == rule.minor);
    if (covers)
      fail("cgroup: device rule {:?} cannot be applied: it would punch a hole into the wildcard rule {:?}",
           device_rule_line(rule), device_rule_line(e));
  }
  for (auto it = set.exceptions.begin(); it != set.exceptions.end(); ++it) {
    if (!same_node(*it, rule)) continue;
    it->access &= ~rule.access;
    if (it->access == 0) set.exceptions.erase(it);
    return;
  }
}

}  // namespace

DeviceRuleSet emulate_device_rules(const std::vector<oci::DeviceCgroupRule>& rules) {
  DeviceRuleSet set;  // deny all
  for (const auto& r : rules) {
    std::string type = r.type.empty() ? "a" : r.type;
    if (type != "a" && type != "b" && type != "c") fail("cgroup: invalid device rule type {:?}", r.type);
    DeviceRule rule;
    rule.type = type[0];
    rule.major = r.major.value_or(-1) < 0 ? -1 : *r.major;
    rule.minor = r.minor.value_or(-1) < 0 ? -1 : *r.minor;
    rule.access = parse_access(r.access);
    if (rule.type == 'a') {
      // Like writing "a" to devices.allow/deny: a new default, no exceptions.
      set = DeviceRuleSet{r.allow, {}};
      continue;
    }
    if (r.allow == set.default_allow)
      remove_exception(set, rule);
    else
      add_exception(set, rule);
  }
  return set;
}

std::string device_rule_line(const DeviceRule& rule) {
  auto num = [](int64_t v) { return v < 0 ? std::string("*") : std::to_string(v); };
  std::string access;
  if (rule.access & kDevRead) access += 'r';
  if (rule.access & kDevWrite) access += 'w';
  if (rule.access & kDevMknod) access += 'm';
  return fmt::format("{} {}:{} {}", rule.type, num(rule.major), num(rule.minor), access);
}

}  // namespace berth::runtime::cg
