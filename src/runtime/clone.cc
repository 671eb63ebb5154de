#include "runtime/clone.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"

namespace berth::runtime {

pid_t clone_process(int flags, const std::string& cgroup2_dir, bool* into_cgroup) {
  *into_cgroup = false;
  if (!cgroup2_dir.empty()) {
    UniqueFd dir(::open(cgroup2_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir.valid()) {
      struct clone_args args;
      std::memset(&args, 0, sizeof args);
      args.flags = static_cast<unsigned long long>(flags) | CLONE_INTO_CGROUP;
      args.exit_signal = SIGCHLD;
      args.cgroup = static_cast<unsigned long long>(dir.get());
      long pid = ::syscall(SYS_clone3, &args, sizeof args);
      if (pid >= 0) {
        *into_cgroup = true;
        return static_cast<pid_t>(pid);
      }
      if (errno != ENOSYS && errno != E2BIG && errno != EINVAL) return -1;
    }
  }
  return static_cast<pid_t>(::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
}

}  // namespace berth::runtime
