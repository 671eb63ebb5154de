// ProcessSetup: turns the current (forked) process into the spec's
// process.user/capabilities/rlimits/... and execs it. Shared by the container
// init and by `exec`.
//
// Contract: prepare() runs in the runtime before forking and validates
// everything it can (capability and rlimit names, seccomp). The remaining
// steps run in the container process, after pivot_root or setns(mnt), in the
// order runc uses: rlimits and oom score; seccomp early when
// noNewPrivileges is false (loading it later would need CAP_SYS_ADMIN);
// groups, gid, uid with capabilities kept across the switch; capabilities;
// cwd; no_new_privs; and seccomp last before execve otherwise.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oci/spec.h"
#include "runtime/capabilities.h"
#include "runtime/rlimits.h"
#include "runtime/seccomp.h"

namespace berth::runtime {

class ProcessSetup {
 public:
  // seccomp may be null. preserve_fds: fds 3..3+n-1 stay open across exec.
  // seccomp_cache_dir: see SeccompFilter::compile; empty disables the cache.
  ProcessSetup(oci::Process proc, const oci::Seccomp* seccomp, int preserve_fds,
               const std::string& seccomp_cache_dir = "");

  const oci::Process& process() const { return proc_; }

  // In the container process: everything up to (not including) the final
  // seccomp load and exec. Throws Error.
  void apply_identity();
  // Resolves args[0] against PATH inside the container; throws if missing,
  // so `create` can fail before reporting success.
  void resolve_executable();
  // Final seccomp (when NNP), fd hygiene, execve. Only returns by throwing.
  [[noreturn]] void exec();

  // Notify fd from seccomp load (SCMP_ACT_NOTIFY), or -1. A profile with
  // SCMP_ACT_NOTIFY is loaded at the end of apply_identity(), so the fd can
  // reach the seccomp agent before the process runs.
  int seccomp_notify_fd() const { return notify_fd_; }
  bool uses_seccomp_notify() const { return seccomp_ && seccomp_->uses_notify(); }

 private:
  void load_seccomp();

  oci::Process proc_;
  std::vector<ResolvedRlimit> rlimits_;
  std::optional<CapabilitySets> caps_;
  std::optional<SeccompFilter> seccomp_;
  bool seccomp_loaded_ = false;
  int notify_fd_ = -1;
  int preserve_fds_ = 0;
  std::string executable_;
};

}  // namespace berth::runtime
