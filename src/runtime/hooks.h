// Hooks: runs one OCI hook with the container state JSON on its stdin.
//
// Contract: the hook's path is executed directly (no PATH lookup) with its
// args (args[0] is argv[0]) and env; a non-zero exit, a signal, or running
// past its timeout (it is then killed) is an Error that names the hook and
// includes the tail of its stderr.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"

namespace berth::runtime {

void run_hook(const oci::Hook& hook, const std::string& state_json, const std::string& phase);
void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& state_json, const std::string& phase);

}  // namespace berth::runtime
