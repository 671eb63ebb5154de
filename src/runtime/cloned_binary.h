// Protection against CVE-2019-5736: a container process must never be able
// to reach the runtime's binary on the host through /proc/<pid>/exe and
// overwrite it. Before entering any container, the runtime re-executes
// itself from a private, detached, read-only bind mount of its own binary
// (cheap: no copy, and the page cache stays shared), or, where it may not
// mount (no CAP_SYS_ADMIN), from a sealed, anonymous memfd copy.
// /proc/self/exe then names a file that cannot be written through it.
#pragma once

namespace berth::runtime {

// If not already running from a read-only mount or a sealed copy, makes one
// and execs it with the same argv/environ (does not return on success).
// Throws Error on failure.
void ensure_running_from_sealed_copy(char** argv, char** envp);

}  // namespace berth::runtime
