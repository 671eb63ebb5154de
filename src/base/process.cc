#include "base/process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"
#include "base/strings.h"

namespace berth {

std::string run_capture(const std::vector<std::string>& argv) {
  if (argv.empty()) fail("run: empty command");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd r(p[0]), w(p[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork {}", argv[0]);
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(w.get(), 1);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  w.reset();
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(r.get(), buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("{}: exited with status {}", join(argv, " "), WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return out;
}

}  // namespace berth
