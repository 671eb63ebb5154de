// Capabilities: names <-> numbers, and applying the spec's five sets to the
// calling process.
//
// Contract: parse_capabilities() rejects names libcap does not know
// ("unknown capability \"CAP_FOO\""); names the running kernel does not
// support (above cap_last_cap) are dropped, as runc does, so newer profiles
// work on older kernels. apply runs in the container process after setuid
// with PR_SET_KEEPCAPS and returns -errno instead of throwing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oci/spec.h"

namespace berth::runtime {

struct CapabilitySets {
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

// Throws Error on an unknown name.
CapabilitySets parse_capabilities(const oci::Capabilities& caps);
int capability_from_name(const std::string& name);  // -1 if unknown
std::string capability_name(int cap);               // "CAP_CHOWN"
int last_capability();                              // /proc/sys/kernel/cap_last_cap
std::vector<std::string> all_capability_names();

// Drops every capability outside `bounding` from the bounding set.
int drop_bounding(uint64_t bounding);
// Sets effective/permitted/inheritable and raises ambient.
int apply_capabilities(const CapabilitySets& sets);

}  // namespace berth::runtime
