// Protection against CVE-2019-5736: a container process must never be able
// to reach the runtime's binary on the host through /proc/<pid>/exe and
// overwrite it. Before entering any container, the runtime re-executes
// itself from a sealed, anonymous, read-only memfd copy; /proc/self/exe then
// names that copy, which cannot be written, grown or shrunk.
#pragma once

namespace berth::runtime {

// If not already running from a sealed copy, makes one and execs it with the
// same argv/environ (does not return on success). Throws Error on failure.
void ensure_running_from_sealed_copy(char** argv, char** envp);

}  // namespace berth::runtime
