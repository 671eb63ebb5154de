#include "engine/shim_launcher.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"

namespace berth::engine {

namespace {

// Reads one "\n"-terminated line (or to EOF when until_eof).
std::string read_message(int fd, bool until_eof) {
  std::string out;
  char c;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.push_back(c);
    if (c == '\n' && !until_eof) break;
  }
  return out;
}

void parse_pids(const std::string& msg, const char* word, pid_t* shim_pid, pid_t* init_pid) {
  auto parts = split(trim(msg), ' ');
  long long a = 0, b = 0;
  if (parts.size() != 3 || parts[0] != word || !parse_int64(parts[1], &a) || !parse_int64(parts[2], &b))
    fail("berth-shim: unexpected message {:?}", msg);
  *shim_pid = static_cast<pid_t>(a);
  *init_pid = static_cast<pid_t>(b);
}

[[noreturn]] void fail_with_message(const std::string& msg) {
  if (msg.rfind("error: ", 0) == 0) throw Error(std::string(trim(msg.substr(7))));
  if (msg.empty()) fail("berth-shim exited without reporting (see its shim.log)");
  fail("berth-shim: unexpected message {:?}", msg);
}

}  // namespace

ShimHandle ShimHandle::launch(const ShimConfig& cfg) {
  int ready[2], start[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  if (::pipe2(start, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd start_r(start[0]), start_w(start[1]);

  std::vector<std::string> argv{cfg.shim_path, "--id", cfg.id, "--bundle", cfg.bundle, "--runtime", cfg.runtime_path,
                                "--state-dir", cfg.state_dir, "--ready-fd", "3", "--start-fd", "4",
                                // The runtime's record goes with the exit, so a restart can reuse the id.
                                "--cleanup"};
  if (!cfg.runtime_root.empty()) argv.insert(argv.end(), {"--runtime-root", cfg.runtime_root});
  for (const auto& a : cfg.runtime_args) argv.insert(argv.end(), {"--runtime-arg", a});
  if (!cfg.log_path.empty()) {
    argv.insert(argv.end(), {"--log-path", cfg.log_path});
    if (cfg.log_max_size) argv.insert(argv.end(), {"--log-max-size", std::to_string(cfg.log_max_size)});
    argv.insert(argv.end(), {"--log-max-file", std::to_string(cfg.log_max_file)});
  }
  if (cfg.terminal) argv.push_back("--terminal");
  if (cfg.stdin) argv.push_back("--stdin");
  if (cfg.stdin_once) argv.push_back("--stdin-once");
  // Only the two protocol pipes are inherited, as fds 3 and 4.
  pid_t pid = spawn_process(argv, {-1, -1, -1, ready_w.get(), start_r.get()});
  ready_w.reset();
  start_r.reset();

  ShimHandle h;
  h.launcher_pid_ = pid;
  h.ready_r_ = std::move(ready_r);
  h.start_w_ = std::move(start_w);
  std::string msg = read_message(h.ready_r_.get(), false);
  if (msg.rfind("created ", 0) != 0) {
    msg += read_message(h.ready_r_.get(), true);
    h.reap_launcher();
    fail_with_message(msg);
  }
  parse_pids(msg, "created", &h.shim_pid_, &h.init_pid_);
  return h;
}

void ShimHandle::start() {
  started_ = true;
  static const char kStart[] = "start\n";
  if (::write(start_w_.get(), kStart, sizeof kStart - 1) < 0) fail_errno("berth-shim: send start");
  start_w_.reset();
  std::string msg = read_message(ready_r_.get(), true);
  reap_launcher();
  if (msg.rfind("ready ", 0) != 0) fail_with_message(msg);
}

void ShimHandle::reap_launcher() {
  if (launcher_pid_ > 0) {
    while (::waitpid(launcher_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    launcher_pid_ = -1;
  }
}

ShimHandle::~ShimHandle() {
  if (launcher_pid_ <= 0) return;
  if (!started_) {
    start_w_.reset();  // EOF: the shim deletes the container
    read_message(ready_r_.get(), true);
  }
  reap_launcher();
}

UniqueFd connect_shim_socket(const std::string& state_dir, const char* name) {
  UniqueFd dir(::open(state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) fail_errno("open {}", state_dir);
  struct sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = fmt::format("/proc/self/fd/{}/{}", dir.get(), name);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) fail_errno("socket");
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fail_errno("connect {}/{}", state_dir, name);
  return s;
}

void shim_control(const std::string& state_dir, const std::string& command) {
  UniqueFd s = connect_shim_socket(state_dir, "control.sock");
  std::string line = command + "\n";
  if (::send(s.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
    fail_errno("shim control {:?}", command);
  std::string reply = read_message(s.get(), false);
  if (trim(reply) != "ok") fail("shim control {:?}: {}", command, trim(reply));
}

}  // namespace berth::engine
