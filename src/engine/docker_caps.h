// Docker's capability model: the default set every container gets, and how
// HostConfig.CapAdd / CapDrop / Privileged change it (moby's
// caps.TweakCapabilities).
//
// Contract: names are accepted in any case, with or without the "CAP_"
// prefix; "ALL" (and Privileged) stand for every capability the running
// kernel supports (/proc/sys/kernel/cap_last_cap) that this process may
// still pass on (its own bounding set: a sandboxed daemon cannot grant what
// it lacks, and the runtime would fail applying it). A name the kernel does not know fails
// with docker's message: unknown capability: "CAP_FOO". Results are
// canonical "CAP_*" names, without duplicates, defaults first.
#pragma once

#include <string>
#include <vector>

namespace berth::engine {

// The 14 capabilities docker grants by default, in docker's order.
const std::vector<std::string>& docker_default_capabilities();

// Every capability the running kernel supports and our bounding set still
// holds, in bit order.
std::vector<std::string> kernel_capabilities();

// "sys_admin" -> "CAP_SYS_ADMIN"; "all" -> "ALL". Throws on unknown names.
std::string normalize_capability(const std::string& name);

// The container's capability set, as docker computes it.
std::vector<std::string> docker_capabilities(const std::vector<std::string>& cap_add,
                                             const std::vector<std::string>& cap_drop, bool privileged);

}  // namespace berth::engine
