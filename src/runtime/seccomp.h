// Seccomp: turns the spec's linux.seccomp into a BPF filter (via libseccomp)
// and installs it.
//
// Contract: compile() runs in the runtime before the container process
// exists, so every bad input (unknown action, architecture, operator, flag,
// a flag the kernel lacks, an empty syscall name) is reported as an Error
// before anything is created. Syscall names unknown to libseccomp are
// skipped, as runc does, so profiles written for newer kernels still load.
//
// compile() with a cache_dir keeps each generated program in
// <cache_dir>/<hash>.bpf (0700 dir, written atomically) together with the
// exact profile, libseccomp version and kernel release it came from, and
// reuses it when all of these match byte for byte: libseccomp needs ~25 ms
// for docker's default profile, and every container of an engine uses the
// same one. A damaged or mismatching cache file is ignored (recompiled).
//
// compile() also generates the BPF program, so load() only makes the
// seccomp(2) call: it allocates nothing and never throws but returns -errno,
// because it runs after fork, as late as possible before execve. load() does
// not set no_new_privs: the caller does that when process.noNewPrivileges
// asks for it, and otherwise must call load() while it still has
// CAP_SYS_ADMIN (the kernel refuses with EACCES).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "oci/spec.h"

namespace berth::runtime {

class SeccompFilter {
 public:
  // Compiles the spec's filter. Throws Error on invalid input.
  static SeccompFilter compile(const oci::Seccomp& spec, const std::string& cache_dir = "");

  SeccompFilter(SeccompFilter&&) noexcept;
  SeccompFilter& operator=(SeccompFilter&&) noexcept;
  ~SeccompFilter();

  // Installs the filter on the calling thread (and, with the TSYNC flag, the
  // whole process). Returns 0 or -errno. If the profile uses SCMP_ACT_NOTIFY,
  // *notify_fd receives the listener fd (O_CLOEXEC; else -1). notify_fd may
  // be null only if !uses_notify().
  int load(int* notify_fd) const;
  bool uses_notify() const;
  // Syscall names the profile uses that libseccomp does not know, in profile
  // order; they were left out of the filter (for debug logging).
  const std::vector<std::string>& skipped_syscalls() const;

 private:
  struct Impl;
  explicit SeccompFilter(std::unique_ptr<Impl> impl);
  static SeccompFilter compile_fresh(const oci::Seccomp& spec);
  std::unique_ptr<Impl> impl_;
};

// Sends a seccomp notify fd to listener_path (a unix stream socket) with the
// container process state JSON as payload, as the spec describes for
// listenerPath. The fd travels as SCM_RIGHTS with the first bytes of the
// payload; the connection is closed after the last byte.
void send_seccomp_listener_fd(const std::string& listener_path, int notify_fd, const std::string& state_json);

}  // namespace berth::runtime
