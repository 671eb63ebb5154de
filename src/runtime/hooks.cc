#include "runtime/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "base/error.h"
#include "base/fd.h"

namespace berth::runtime {
namespace {

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

long long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

}  // namespace

void run_hook(const oci::Hook& hook, const std::string& state_json, const std::string& phase) {
  int in[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) fail_errno("{} hook {}: pipe", phase, hook.path);
  UniqueFd in_r(in[0]), in_w(in[1]), err_r(err[0]), err_w(err[1]);
  std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<std::string> env = hook.env;
  auto argv = c_strings(args);
  auto envp = c_strings(env);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("{} hook {}: fork", phase, hook.path);
  if (pid == 0) {
    ::dup2(in_r.get(), 0);
    ::dup2(err_w.get(), 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(hook.path.c_str(), argv.data(), envp.data());
    dprintf(2, "exec %s: %s", hook.path.c_str(), strerror_text(errno).c_str());
    _exit(127);
  }
  in_r.reset();
  err_w.reset();
  // Feeding stdin, draining stderr and waiting for the exit all happen in one
  // poll loop bounded by the timeout: a hook that ignores its stdin, closes
  // its stderr, or leaves a child holding it open cannot outlast the timeout.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    int e = errno;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    errno = e;
    fail_errno("{} hook {}: pidfd_open", phase, hook.path);
  }
  struct sigaction ign {}, old {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old);
  // Linux queues a signal that is blocked even when it is ignored, and `run`
  // blocks all signals: a SIGPIPE from a hook that did not read its stdin
  // would wait there and kill us once the default action is back. Take it.
  auto restore_sigpipe = [&old] {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec zero {};
    while (::sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
    }
    sigaction(SIGPIPE, &old, nullptr);
  };
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
  if (state_json.empty()) in_w.reset();

  std::string stderr_text;
  auto drain_stderr = [&] {
    char buf[4096];
    while (err_r.valid()) {
      ssize_t n = ::read(err_r.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n == 0 || errno != EAGAIN) err_r.reset();
        return;
      }
      stderr_text.append(buf, static_cast<size_t>(n));
      if (stderr_text.size() > 65536) stderr_text.erase(0, stderr_text.size() - 65536);
    }
  };
  size_t off = 0;
  long long deadline = hook.timeout ? now_ms() + *hook.timeout * 1000LL : -1;
  bool timed_out = false;
  while (true) {
    struct pollfd p[3] = {{pidfd.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}, {in_w.get(), POLLOUT, 0}};
    int wait_ms = -1;
    if (deadline >= 0) wait_ms = static_cast<int>(std::max(0LL, deadline - now_ms()));
    int r = ::poll(p, 3, wait_ms);  // negative fds (closed ends) are skipped
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      restore_sigpipe();
      errno = e;
      fail_errno("{} hook {}: poll", phase, hook.path);
    }
    if (r == 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (p[2].revents) {
      ssize_t n = ::write(in_w.get(), state_json.data() + off, state_json.size() - off);
      if (n > 0) off += static_cast<size_t>(n);
      // EPIPE (SIGPIPE is ignored meanwhile): a hook need not read its stdin.
      if (off >= state_json.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) in_w.reset();
    }
    if (p[1].revents) drain_stderr();
    if (p[0].revents) break;  // exited
  }
  drain_stderr();  // whatever it wrote before exiting; never waits for its children
  in_w.reset();
  restore_sigpipe();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!stderr_text.empty() && (stderr_text.back() == '\n' || stderr_text.back() == '\r')) stderr_text.pop_back();
  if (auto nl = stderr_text.rfind('\n'); nl != std::string::npos) stderr_text = stderr_text.substr(nl + 1);
  std::string detail = stderr_text.empty() ? "" : ": " + stderr_text;
  if (timed_out) fail("{} hook {}: timed out after {}s", phase, hook.path, *hook.timeout);
  if (WIFSIGNALED(status)) fail("{} hook {}: killed by signal {}{}", phase, hook.path, WTERMSIG(status), detail);
  if (WEXITSTATUS(status) != 0) fail("{} hook {}: exit status {}{}", phase, hook.path, WEXITSTATUS(status), detail);
}

void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& state_json, const std::string& phase) {
  for (const auto& h : hooks) run_hook(h, state_json, phase);
}

}  // namespace berth::runtime
