// Namespace kinds: spec names ("network") <-> clone flags <-> /proc/<pid>/ns names.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"

namespace berth::runtime {

struct NamespaceKind {
  const char* spec_name;  // "network"
  const char* proc_name;  // "net"
  int clone_flag;         // CLONE_NEWNET
};

// The kinds in the order they must be joined: user first, so the rest are
// entered with the user namespace's privileges; mount last.
const std::vector<NamespaceKind>& namespace_kinds();
// Throws Error for an unknown type.
const NamespaceKind& namespace_kind(const std::string& spec_name);

struct NamespacePlan {
  int new_flags = 0;                                          // CLONE_NEW* to create
  std::vector<std::pair<const NamespaceKind*, std::string>> joins;  // (kind, path), join order
  bool has(int flag) const;                                   // new or joined
  bool is_new(int flag) const { return (new_flags & flag) != 0; }
  bool joins_kind(int flag) const;
  std::string join_path(int flag) const;
};

// Validates linux.namespaces: known types, no duplicates, joined paths exist
// and are namespaces of the right type.
NamespacePlan plan_namespaces(const std::vector<oci::Namespace>& in);

}  // namespace berth::runtime
