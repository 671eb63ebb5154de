#include "runtime/namespaces.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "base/error.h"
#include "base/fd.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace berth::runtime {

const std::vector<NamespaceKind>& namespace_kinds() {
  static const std::vector<NamespaceKind> kinds = {
      {"user", "user", CLONE_NEWUSER}, {"ipc", "ipc", CLONE_NEWIPC},     {"uts", "uts", CLONE_NEWUTS},
      {"network", "net", CLONE_NEWNET}, {"pid", "pid", CLONE_NEWPID},    {"cgroup", "cgroup", CLONE_NEWCGROUP},
      {"time", "time", CLONE_NEWTIME},  {"mount", "mnt", CLONE_NEWNS},
  };
  return kinds;
}

const NamespaceKind& namespace_kind(const std::string& spec_name) {
  for (const auto& k : namespace_kinds())
    if (spec_name == k.spec_name) return k;
  fail("linux.namespaces: unknown namespace type {:?}", spec_name);
}

bool NamespacePlan::has(int flag) const { return is_new(flag) || joins_kind(flag); }

bool NamespacePlan::joins_kind(int flag) const {
  for (const auto& [k, p] : joins)
    if (k->clone_flag == flag) return true;
  return false;
}

std::string NamespacePlan::join_path(int flag) const {
  for (const auto& [k, p] : joins)
    if (k->clone_flag == flag) return p;
  return "";
}

NamespacePlan plan_namespaces(const std::vector<oci::Namespace>& in) {
  NamespacePlan plan;
  int seen = 0;
  std::vector<std::pair<const NamespaceKind*, std::string>> joins;
  for (const auto& ns : in) {
    const NamespaceKind& k = namespace_kind(ns.type);
    if (seen & k.clone_flag) fail("linux.namespaces: {:?} listed twice", ns.type);
    seen |= k.clone_flag;
    if (ns.path.empty()) {
      plan.new_flags |= k.clone_flag;
      continue;
    }
    UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) fail_errno("linux.namespaces: {} namespace path {}", ns.type, ns.path);
    int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
    if (type < 0) fail("linux.namespaces: {} is not a namespace file", ns.path);
    if (type != k.clone_flag) fail("linux.namespaces: {} is not a {} namespace", ns.path, ns.type);
    joins.emplace_back(&k, ns.path);
  }
  // Keep the canonical join order regardless of the order in config.json.
  for (const auto& k : namespace_kinds())
    for (const auto& j : joins)
      if (j.first == &k) plan.joins.push_back(j);
  return plan;
}

}  // namespace berth::runtime
