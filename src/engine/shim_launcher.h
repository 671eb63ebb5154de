// ShimLauncher: starts a berth-shim for a container and speaks its start-up
// protocol (src/shim/shim.h, --ready-fd/--start-fd): launch() returns once
// the runtime has created the container (the init waits before its
// execve), so the caller can connect attach clients that must not miss a
// byte, then start() lets it run.
//
// Contract: launch() throws Error carrying the runtime's own message when
// create fails; start() likewise for start. Destroying a launched-but-not-
// started handle aborts it (the shim deletes the container and exits). The
// shim is spawned with posix_spawn, so only the two protocol pipes are
// inherited (dup'ed onto fds 3 and 4).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/fd.h"

namespace berth::engine {

struct ShimConfig {
  std::string shim_path;
  std::string id;
  std::string bundle;
  std::string runtime_path;
  std::vector<std::string> runtime_args;
  std::string runtime_root;
  std::string state_dir;
  std::string log_path;
  uint64_t log_max_size = 0;
  int log_max_file = 1;
  bool terminal = false;
  bool stdin = false;
  bool stdin_once = false;
};

class ShimHandle {
 public:
  static ShimHandle launch(const ShimConfig& cfg);
  ShimHandle(ShimHandle&& o) noexcept
      : launcher_pid_(std::exchange(o.launcher_pid_, -1)),
        shim_pid_(o.shim_pid_),
        init_pid_(o.init_pid_),
        ready_r_(std::move(o.ready_r_)),
        start_w_(std::move(o.start_w_)),
        started_(o.started_) {}
  ShimHandle& operator=(ShimHandle&&) = delete;
  ~ShimHandle();

  pid_t shim_pid() const { return shim_pid_; }
  pid_t init_pid() const { return init_pid_; }
  void start();

 private:
  ShimHandle() = default;
  void reap_launcher();

  pid_t launcher_pid_ = -1;  // the process we spawned; it exits once the outcome is known
  pid_t shim_pid_ = 0, init_pid_ = 0;
  UniqueFd ready_r_, start_w_;
  bool started_ = false;
};

// The shim's sockets by absolute state dir; the path may exceed sun_path,
// so these connect through /proc/self/fd/<dir>/<name>. Throw on failure.
UniqueFd connect_shim_socket(const std::string& state_dir, const char* name);
// Sends one control line ("resize 24 80", "close-stdin") and checks "ok".
void shim_control(const std::string& state_dir, const std::string& command);

}  // namespace berth::engine
