// Forking the container's processes straight into their cgroup.
#pragma once

#include <sys/types.h>

#include <string>

namespace berth::runtime {

// clone(2) without a new stack (the child continues like fork) with the given
// CLONE_NEW* flags. With a non-empty cgroup2 dir, the child is born in it
// (clone3 CLONE_INTO_CGROUP, Linux 5.7+), so it needs no cgroup.procs write,
// which on a busy host costs milliseconds in synchronize_rcu();
// *into_cgroup tells whether that happened (older kernels fall back to clone).
// Returns the pid in the parent, 0 in the child, -1 with errno on failure.
pid_t clone_process(int flags, const std::string& cgroup2_dir, bool* into_cgroup);

}  // namespace berth::runtime
