// berth-shim: one small monitor process per container (like conmon). The
// command line and protocol are documented in src/shim/shim.h; this file
// only parses flags, detaches from the caller and reports the outcome.
#include <fcntl.h>
#include <getopt.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "shim/shim.h"
#include "shim/trim_rss.h"

namespace {

using berth::Error;
using berth::UniqueFd;
using berth::shim::ShimOptions;

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the reader is gone; nothing better to do
    off += static_cast<size_t>(n);
  }
}

std::string absolute(const std::string& p) {
  if (p.empty() || p[0] == '/') return berth::clean_path(p);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) berth::fail_errno("getcwd");
  return berth::clean_path(berth::path_join(cwd, p));
}

// Blocks until the caller writes "start" (true) or closes the pipe (false).
bool wait_for_start(int fd) {
  std::string got;
  char buf[64];
  while (got.size() < 5) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
  }
  return got.rfind("start", 0) == 0;
}

// The detached shim: returns the process exit code.
int serve(ShimOptions o, int status_fd) {
  // The state dir is our working directory so socket names stay short.
  if (chdir(o.state_dir.c_str()) != 0) berth::fail_errno("chdir {}", o.state_dir);
  // Our diagnostics go to a file: the caller's stdio must not be held open
  // (a caller reading our output to EOF would otherwise wait for the container).
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  UniqueFd logf(::open("shim.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!devnull.valid() || !logf.valid()) berth::fail_errno("open shim.log");
  dup2(devnull.get(), 0);
  dup2(devnull.get(), 1);
  dup2(logf.get(), 2);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) berth::fail_errno("PR_SET_CHILD_SUBREAPER");
  berth::write_file_replace(berth::path_join(o.state_dir, "shim.pid"), std::to_string(getpid()) + "\n");

  int ready_fd = o.ready_fd;
  UniqueFd start_fd(o.start_fd);
  berth::shim::Shim shim(std::move(o));
  try {
    shim.create();
    if (start_fd.valid()) {
      write_all(ready_fd, fmt::format("created {} {}\n", getpid(), shim.init_pid()));
      if (!wait_for_start(start_fd.get())) {
        shim.abort();
        throw Error("aborted before start");
      }
      start_fd.reset();
    }
    shim.start();
  } catch (const Error& e) {
    std::string msg = std::string("error: ") + e.what();
    if (ready_fd >= 0) write_all(ready_fd, msg);
    write_all(status_fd, msg);
    fprintf(stderr, "%s\n", msg.c_str());
    return 1;
  }
  std::string ready = fmt::format("ready {} {}\n", getpid(), shim.init_pid());
  if (ready_fd >= 0) {
    write_all(ready_fd, ready);
    close(ready_fd);
  }
  write_all(status_fd, ready);
  close(status_fd);
  berth::shim::release_clean_image_pages();
  try {
    shim.run();
  } catch (const Error& e) {
    fprintf(stderr, "berth-shim: %s\n", e.what());
    return 1;
  }
  return 0;
}

const char kUsage[] =
    "usage: berth-shim --id ID --bundle DIR --runtime PATH [--runtime-root DIR]\n"
    "                  --state-dir DIR [--terminal] [--stdin [--stdin-once]]\n"
    "                  [--log-path FILE [--log-max-size BYTES] [--log-max-file N]]\n"
    "                  [--runtime-arg ARG]... [--cleanup] [--ready-fd N] [--start-fd N]\n"
    "Per-container monitor: stdio, json-file log, attach socket, exit status.\n"
    "Protocol: see src/shim/shim.h.\n";

// getopt_long rather than CLI11: the parser's iostream and locale code would
// be most of the binary, and every resident page counts once per container.
bool parse_args(int argc, char** argv, ShimOptions* o) {
  enum { kId = 256, kBundle, kRuntime, kRoot, kRuntimeArg, kStateDir, kTerminal, kStdin, kStdinOnce,
         kLogPath, kLogMaxSize, kLogMaxFile, kCleanup, kReadyFd, kStartFd, kHelp };
  static const struct option opts[] = {
      {"id", required_argument, nullptr, kId},
      {"bundle", required_argument, nullptr, kBundle},
      {"runtime", required_argument, nullptr, kRuntime},
      {"runtime-root", required_argument, nullptr, kRoot},
      {"runtime-arg", required_argument, nullptr, kRuntimeArg},
      {"state-dir", required_argument, nullptr, kStateDir},
      {"terminal", no_argument, nullptr, kTerminal},
      {"stdin", no_argument, nullptr, kStdin},
      {"stdin-once", no_argument, nullptr, kStdinOnce},
      {"log-path", required_argument, nullptr, kLogPath},
      {"log-max-size", required_argument, nullptr, kLogMaxSize},
      {"log-max-file", required_argument, nullptr, kLogMaxFile},
      {"cleanup", no_argument, nullptr, kCleanup},
      {"ready-fd", required_argument, nullptr, kReadyFd},
      {"start-fd", required_argument, nullptr, kStartFd},
      {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0}};
  auto number = [](const char* flag, const char* v, unsigned long long max) {
    unsigned long long n = 0;
    if (!berth::parse_uint64(v, &n) || n > max) berth::fail("{}: invalid number {:?}", flag, v);
    return n;
  };
  int c;
  while ((c = getopt_long(argc, argv, "", opts, nullptr)) != -1) {
    switch (c) {
      case kId: o->id = optarg; break;
      case kBundle: o->bundle = optarg; break;
      case kRuntime: o->runtime = optarg; break;
      case kRoot: o->runtime_root = optarg; break;
      case kRuntimeArg: o->runtime_args.push_back(optarg); break;
      case kStateDir: o->state_dir = optarg; break;
      case kTerminal: o->terminal = true; break;
      case kStdin: o->stdin = true; break;
      case kStdinOnce: o->stdin_once = true; break;
      case kLogPath: o->log_path = optarg; break;
      case kLogMaxSize: o->log_max_size = number("--log-max-size", optarg, ~0ULL); break;
      case kLogMaxFile: o->log_max_file = static_cast<int>(number("--log-max-file", optarg, 1000000)); break;
      case kCleanup: o->cleanup = true; break;
      case kReadyFd: o->ready_fd = static_cast<int>(number("--ready-fd", optarg, INT_MAX)); break;
      case kStartFd: o->start_fd = static_cast<int>(number("--start-fd", optarg, INT_MAX)); break;
      case kHelp: fputs(kUsage, stdout); return false;
      default: berth::fail("invalid arguments (see --help)");
    }
  }
  if (optind < argc) berth::fail("unexpected argument {:?}", argv[optind]);
  for (auto [flag, v] : {std::pair{"--id", &o->id}, {"--bundle", &o->bundle}, {"--runtime", &o->runtime},
                         {"--state-dir", &o->state_dir}})
    if (v->empty()) berth::fail("{} is required", flag);
  if (o->log_max_file < 1) berth::fail("--log-max-file must be at least 1");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  ShimOptions o;
  try {
    if (!parse_args(argc, argv, &o)) return 0;
    o.bundle = absolute(o.bundle);
    o.state_dir = absolute(o.state_dir);
    if (!o.log_path.empty()) o.log_path = absolute(o.log_path);
    if (o.runtime.find('/') != std::string::npos) o.runtime = absolute(o.runtime);
    if (!o.runtime_root.empty()) o.runtime_root = absolute(o.runtime_root);
    berth::mkdir_all(o.state_dir, 0711);
    if (o.ready_fd >= 0 && fcntl(o.ready_fd, F_GETFD) < 0) berth::fail("--ready-fd {}: not open", o.ready_fd);
    if (o.start_fd >= 0 && fcntl(o.start_fd, F_GETFD) < 0) berth::fail("--start-fd {}: not open", o.start_fd);
    if (o.start_fd >= 0 && o.ready_fd < 0) berth::fail("--start-fd needs --ready-fd");
  } catch (const Error& e) {
    fprintf(stderr, "berth-shim: %s\n", e.what());
    return 1;
  }
  // Nothing the caller leaked to us may reach the runtime or the container
  // (it would, e.g., keep the caller's pipes open for the container's life).
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);

  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    perror("berth-shim: pipe");
    return 1;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("berth-shim: fork");
    return 1;
  }
  if (child == 0) {
    close(p[0]);
    setsid();
    // Second fork: the shim is no session leader, so opening a tty can
    // never make one its controlling terminal, and it is nobody's child.
    pid_t shim = fork();
    if (shim != 0) _exit(shim < 0 ? 1 : 0);
    int rc;
    try {
      rc = serve(std::move(o), p[1]);
    } catch (const Error& e) {
      std::string msg = std::string("error: berth-shim: ") + e.what() + "\n";
      write_all(p[1], msg);
      if (o.ready_fd >= 0) write_all(o.ready_fd, msg);
      rc = 1;
    }
    _exit(rc);
  }
  close(p[1]);
  std::string status;
  char buf[4096];
  for (;;) {
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    status.append(buf, static_cast<size_t>(n));
  }
  waitpid(child, nullptr, 0);
  if (status.rfind("ready ", 0) == 0) return 0;
  if (status.rfind("error: ", 0) == 0) {
    std::string text = status.substr(7);
    fputs(text.c_str(), stderr);
    if (!text.empty() && text.back() != '\n') fputc('\n', stderr);
  } else {
    fprintf(stderr, "berth-shim: shim exited before reporting\n");
  }
  return 1;
}
