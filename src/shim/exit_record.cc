#include "shim/exit_record.h"

#include <sys/wait.h>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "shim/json_log.h"

namespace berth::shim {

int docker_exit_code(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

std::string exit_json(int wait_status, pid_t pid, const struct timespec& exited_at, bool oom_killed) {
  int sig = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  return fmt::format("{{\"exit_code\":{},\"exited_at\":\"{}\",\"oom_killed\":{},\"pid\":{},\"signal\":{}}}\n",
                     docker_exit_code(wait_status), rfc3339_nano(exited_at), oom_killed, pid, sig);
}

std::optional<uint64_t> parse_oom_kills(std::string_view text) {
  for (const auto& line : split(text, '\n')) {
    auto words = split(trim(line), ' ');
    unsigned long long n = 0;
    // Exact key: v2 also has "oom_group_kill", v1 "oom_kill_disable".
    if (words.size() == 2 && words[0] == "oom_kill" && parse_uint64(words[1], &n)) return n;
  }
  return std::nullopt;
}

std::optional<uint64_t> read_oom_kills(const std::string& dir) {
  for (const char* name : {"memory.events", "memory.oom_control"}) {
    try {
      std::string text;
      if (read_file_if_exists(path_join(dir, name), &text)) return parse_oom_kills(text);
    } catch (const Error&) {
      // e.g. the cgroup is being removed: no count, rather than no exit record
    }
  }
  return std::nullopt;
}

}  // namespace berth::shim
