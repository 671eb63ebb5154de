// Running the OCI runtime binary from the shim.
//
// Contract: spawn() forks and execs argv with the given descriptors as its
// stdin/stdout/stderr (-1: /dev/null) and an empty signal mask; nothing else
// is inherited because every descriptor the shim owns is O_CLOEXEC. The
// child is not waited for; wait_pid() reaps exactly that pid, leaving other
// children (the container init, reparented orphans) to the shim's SIGCHLD
// handling.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "shim/options.h"

namespace berth::shim {

pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err);
int wait_pid(pid_t pid);  // returns the wait status
// Reads what a non-blocking descriptor holds right now, without waiting for EOF.
std::string drain_available(int fd);

// "<runtime> [--root R] [runtime_args...] <verb_args...>"
std::vector<std::string> runtime_argv(const ShimOptions& o, const std::vector<std::string>& verb_args);

struct RuntimeResult {
  int status = 0;       // wait status
  std::string stderr_text;
  bool ok() const;
  // The runtime's stderr verbatim, or a description when it printed nothing.
  std::string error_text(const std::string& what) const;
};

// Runs the runtime with stdout to /dev/null and stderr captured.
RuntimeResult run_runtime(const ShimOptions& o, const std::vector<std::string>& verb_args);

}  // namespace berth::shim
