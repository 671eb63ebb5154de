#include "shim/exit_record.h"

#include <sys/wait.h>

#include <fmt/format.h>

#include "base/clock.h"
#include "shim/json_log.h"

namespace berth::shim {

int docker_exit_code(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

std::string exit_json(int wait_status, pid_t pid, const struct timespec& exited_at) {
  int sig = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  return fmt::format("{{\"exit_code\":{},\"exited_at\":\"{}\",\"pid\":{},\"signal\":{}}}\n",
                     docker_exit_code(wait_status), rfc3339_nano(exited_at), pid, sig);
}

}  // namespace berth::shim
