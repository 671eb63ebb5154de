// The record of how a container's init ended: <state-dir>/exit.json.
//
// Contract: {"exit_code":N,"exited_at":"<RFC3339Nano UTC>","pid":P,"signal":S}
// where N is the exit status, or 128+signal when the init was killed by a
// signal (what docker reports), and S is that signal number or 0.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <string>

namespace berth::shim {

int docker_exit_code(int wait_status);
std::string exit_json(int wait_status, pid_t pid, const struct timespec& exited_at);

}  // namespace berth::shim
