// berth-init: the tiny pid 1 that `docker run --init` puts in front of the
// command (docker uses tini). It runs "berth-init -- CMD ARGS...", forwards
// every catchable signal to the command, reaps every zombie (orphans are
// reparented to pid 1), and exits with the command's status (128+signal
// when it was killed). Written against libc only: it is bind-mounted into
// every --init container and must run in any image (static, no loader).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int first = 1;
  if (first < argc && strcmp(argv[first], "--") == 0) ++first;
  if (first >= argc) {
    fprintf(stderr, "usage: berth-init -- COMMAND [ARG]...\n");
    return 2;
  }
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  // Outside pid 1 (e.g. run by hand) still reap our command's orphans.
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1);

  pid_t child = fork();
  if (child < 0) {
    perror("berth-init: fork");
    return 1;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    // Its own process group, so a tty's job-control signals reach it as a shell expects.
    setpgid(0, 0);
    if (isatty(0)) tcsetpgrp(0, getpgrp());
    execvp(argv[first], argv + first);
    fprintf(stderr, "berth-init: exec %s: %s\n", argv[first], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }

  for (;;) {
    siginfo_t si;
    struct timespec tick = {1, 0};
    int sig = sigtimedwait(&all, &si, &tick);
    if (sig > 0 && sig != SIGCHLD) kill(child, sig);
    for (;;) {
      int status = 0;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      if (p == child) {
        // Whatever is left in the container dies with pid 1 anyway.
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
      }
    }
  }
}
