// Seccomp: turns the spec's linux.seccomp into a BPF filter (via libseccomp)
// and installs it.
//
// Contract: compile() runs in the runtime before the container process
// exists, so every bad input (unknown action, syscall name, architecture,
// operator, flag) is reported as an Error before anything is created.
// Syscall names unknown to libseccomp for an architecture are skipped, as
// runc does, so profiles written for newer kernels still load. load() is
// called in the container process as late as possible before execve;
// it never throws but returns -errno, because it runs after fork.
#pragma once

#include <memory>

#include "oci/spec.h"

namespace berth::runtime {

class SeccompFilter {
 public:
  // Compiles the spec's filter. Throws Error on invalid input.
  static SeccompFilter compile(const oci::Seccomp& spec);

  SeccompFilter(SeccompFilter&&) noexcept;
  SeccompFilter& operator=(SeccompFilter&&) noexcept;
  ~SeccompFilter();

  // Installs the filter on the calling thread (and, with the TSYNC flag, the
  // whole process). Returns 0 or -errno. If the profile uses SCMP_ACT_NOTIFY,
  // *notify_fd receives the listener fd (else -1).
  int load(int* notify_fd) const;
  bool uses_notify() const;

 private:
  struct Impl;
  explicit SeccompFilter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sends a seccomp notify fd to listener_path (a unix socket) with the
// container state JSON as payload, as the spec describes for listenerPath.
void send_seccomp_listener_fd(const std::string& listener_path, int notify_fd, const std::string& state_json);

}  // namespace berth::runtime
