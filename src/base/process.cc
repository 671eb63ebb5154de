#include "base/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

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

namespace {

// Blocks SIGPIPE in the calling thread for its lifetime, so that writing to
// a child that has closed its stdin yields EPIPE instead of killing the
// process; a SIGPIPE our own write raised is consumed before unblocking.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    // Only discard a SIGPIPE that was not already pending (someone else's).
    if (raised_ && !was_pending_) {
      struct timespec zero = {0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void note_epipe() { raised_ = true; }

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false, raised_ = false;
};

// input == nullptr: stdin is /dev/null.
ProcessResult run_with_input(const std::vector<std::string>& argv, const std::string_view* input) {
  if (argv.empty()) fail("run: empty command");
  int po[2], pe[2], pi[2];
  if (::pipe2(po, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd out_r(po[0]), out_w(po[1]);
  if (::pipe2(pe, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd err_r(pe[0]), err_w(pe[1]);
  UniqueFd in_r, in_w;
  if (input) {
    if (::pipe2(pi, O_CLOEXEC) != 0) fail_errno("pipe");
    in_r.reset(pi[0]);
    in_w.reset(pi[1]);
    // Non-blocking so a child that stops reading cannot stall the output loop.
    if (::fcntl(in_w.get(), F_SETFL, O_NONBLOCK) != 0) fail_errno("fcntl");
  }
  pid_t pid = spawn_process(argv, {input ? in_r.get() : -1, out_w.get(), err_w.get()}, true);
  out_w.reset();
  err_w.reset();
  in_r.reset();

  std::string_view pending = input ? *input : std::string_view();
  if (pending.empty()) in_w.reset();
  std::optional<SigpipeBlock> sigpipe;
  if (in_w.valid()) sigpipe.emplace();

  ProcessResult res;
  struct pollfd fds[3] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}, {in_w.get(), POLLOUT, 0}};
  std::string* sinks[2] = {&res.out, &res.err};
  char buf[8192];
  while (fds[0].fd >= 0 || fds[1].fd >= 0 || fds[2].fd >= 0) {
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        fds[i].fd = -1;
      else
        sinks[i]->append(buf, static_cast<size_t>(n));
    }
    if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLHUP | POLLERR))) {
      ssize_t n = ::write(in_w.get(), pending.data(), std::min<size_t>(pending.size(), 65536));
      if (n > 0) pending.remove_prefix(static_cast<size_t>(n));
      if (n < 0 && errno == EPIPE) sigpipe->note_epipe();
      bool retry = n < 0 && (errno == EINTR || errno == EAGAIN);
      if (pending.empty() || (n < 0 && !retry)) {
        // All written, or the child closed its stdin: EOF either way.
        fds[2].fd = -1;
        in_w.reset();
      }
    }
  }
  in_w.reset();  // poll failed: let a child waiting for more input see EOF
  sigpipe.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv) { return run_with_input(argv, nullptr); }

ProcessResult run_process(const std::vector<std::string>& argv, std::string_view stdin_data) {
  return run_with_input(argv, &stdin_data);
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
