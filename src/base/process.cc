#include "base/process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"
#include "base/strings.h"

extern char** environ;

namespace berth {

pid_t spawn_process(const std::vector<std::string>& argv, const std::vector<int>& fds, bool search_path) {
  if (argv.empty()) fail("run: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i] >= 0)
      posix_spawn_file_actions_adddup2(&fa, fds[i], static_cast<int>(i));
    else if (i <= 2)
      posix_spawn_file_actions_addopen(&fa, static_cast<int>(i), "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = search_path ? posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ)
                       : posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    fail_errno("run {}", argv[0]);
  }
  return pid;
}

ProcessResult run_process(const std::vector<std::string>& argv) {
  if (argv.empty()) fail("run: empty command");
  int po[2], pe[2];
  if (::pipe2(po, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd out_r(po[0]), out_w(po[1]);
  if (::pipe2(pe, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd err_r(pe[0]), err_w(pe[1]);
  pid_t pid = spawn_process(argv, {-1, out_w.get(), err_w.get()}, true);
  out_w.reset();
  err_w.reset();

  ProcessResult res;
  struct pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&res.out, &res.err};
  int open = 2;
  char buf[8192];
  while (open > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        --open;
      } else {
        sinks[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

std::string run_capture(const std::vector<std::string>& argv) {
  ProcessResult r = run_process(argv);
  if (!r.ok()) {
    std::string why(trim(r.err));
    if (why.empty()) why = fmt::format("exited with status {}", r.exit_code);
    fail("{}: {}", join(argv, " "), why);
  }
  return r.out;
}

}  // namespace berth
