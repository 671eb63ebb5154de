// The record of how a container's init ended: <state-dir>/exit.json, and the
// memory cgroup's OOM-kill count that goes into it.
//
// Contract: {"exit_code":N,"exited_at":"<RFC3339Nano UTC>","oom_killed":B,"pid":P,"signal":S}
// where N is the exit status, or 128+signal when the init was killed by a
// signal (what docker reports), S is that signal number or 0, and B is true
// when the kernel's OOM killer killed a process of the container's memory
// cgroup while it ran (docker's State.OOMKilled: any process, not only the
// init).
//
// OOM kills are counted by the kernel per memory cgroup, as the "oom_kill N"
// line of memory.events (cgroup v2) or memory.oom_control (cgroup v1, kernels
// since 4.13). read_oom_kills() reads whichever the directory has; nullopt
// when neither file (or no such line) exists, e.g. a v2 cgroup without the
// memory controller.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace berth::shim {

int docker_exit_code(int wait_status);
std::string exit_json(int wait_status, pid_t pid, const struct timespec& exited_at, bool oom_killed);

// The "oom_kill N" value of memory.events / memory.oom_control text.
std::optional<uint64_t> parse_oom_kills(std::string_view text);
// The OOM-kill count of the memory cgroup directory dir (never throws: the
// count is a diagnostic, it must not cost the exit record).
std::optional<uint64_t> read_oom_kills(const std::string& dir);

}  // namespace berth::shim
