#include "shim/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/error.h"
#include "base/fd.h"

namespace berth::shim {

pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  // Everything the child needs is prepared before fork.
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) fail_errno("open /dev/null");
  int fds[3] = {in >= 0 ? in : devnull.get(), out >= 0 ? out : devnull.get(), err >= 0 ? err : devnull.get()};
  bool search = argv[0].find('/') == std::string::npos;

  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork {}", argv[0]);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    // Move sources out of 0..2 first so one dup2 cannot clobber another's source.
    for (int i = 0; i < 3; ++i)
      if (fds[i] < 3) fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
    for (int i = 0; i < 3; ++i) dup2(fds[i], i);
    if (search)
      execvp(cargv[0], cargv.data());
    else
      execv(cargv[0], cargv.data());
    std::string msg = fmt::format("berth-shim: exec {}: {}\n", argv[0], strerror_text(errno));
    ssize_t ignored = ::write(2, msg.data(), msg.size());
    (void)ignored;
    _exit(127);
  }
  return pid;
}

int wait_pid(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail_errno("wait for pid {}", pid);
  }
  return status;
}

std::string drain_available(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return out;  // EOF, EAGAIN or an error: all that is there has been read
  }
}

std::vector<std::string> runtime_argv(const ShimOptions& o, const std::vector<std::string>& verb_args) {
  std::vector<std::string> argv{o.runtime};
  if (!o.runtime_root.empty()) {
    argv.push_back("--root");
    argv.push_back(o.runtime_root);
  }
  argv.insert(argv.end(), o.runtime_args.begin(), o.runtime_args.end());
  argv.insert(argv.end(), verb_args.begin(), verb_args.end());
  return argv;
}

bool RuntimeResult::ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

std::string RuntimeResult::error_text(const std::string& what) const {
  if (!stderr_text.empty()) return stderr_text;
  if (WIFSIGNALED(status)) return fmt::format("berth-shim: {}: killed by signal {}\n", what, WTERMSIG(status));
  return fmt::format("berth-shim: {}: exit status {}\n", what, WEXITSTATUS(status));
}

RuntimeResult run_runtime(const ShimOptions& o, const std::vector<std::string>& verb_args) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd r(p[0]), w(p[1]);
  pid_t pid = spawn(runtime_argv(o, verb_args), -1, -1, w.get());
  w.reset();
  RuntimeResult res;
  res.status = wait_pid(pid);
  // Non-blocking: a process the runtime left behind may still hold the pipe.
  fcntl(r.get(), F_SETFL, O_NONBLOCK);
  res.stderr_text = drain_available(r.get());
  return res;
}

}  // namespace berth::shim
