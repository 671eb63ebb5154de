#include "shim/shim.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "shim/exit_record.h"
#include "shim/json_log.h"
#include "shim/spawn.h"
#include "shim/unix_io.h"

namespace berth::shim {

namespace {

// Past these, a slow reader is cut off (attach) or stops being read
// (stdin), so no single peer can grow the shim's memory without bound.
constexpr size_t kClientBacklog = 4 << 20;
constexpr size_t kStdinBacklog = 1 << 20;
// Output still arriving this long after the init died comes from processes
// outside a pid namespace that kept the pipes; the exit must not wait on them.
constexpr int kDrainMillis = 5000;

constexpr uint32_t kIn = EPOLLIN;
constexpr uint32_t kOut = EPOLLOUT;

const char kAttachSock[] = "attach.sock";
const char kControlSock[] = "control.sock";
const char kConsoleSock[] = "console.sock";
const char kMemoryCgroupFile[] = "memory-cgroup";

struct timespec now_realtime() {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

long long now_millis() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

void warn(const std::string& msg) {
  // stderr is <state>/shim.log once detached (see main).
  fprintf(stderr, "berth-shim: %s\n", msg.c_str());
  fflush(stderr);
}

}  // namespace

Shim::Shim(ShimOptions opts) : o_(std::move(opts)) {}

void Shim::create() {
  // SIGCHLD stays blocked for the shim's life: children are reaped through a
  // signalfd in the loop, and blocking before the first fork loses nothing.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!o_.log_path.empty()) log_.emplace(o_.log_path, o_.log_max_size, o_.log_max_file);
  create_container();
  std::string cgroup;
  if (read_file_if_exists(path_join(o_.state_dir, kMemoryCgroupFile), &cgroup)) {
    memory_cgroup_ = std::string(trim(cgroup));
    // A cgroup the runtime reused may carry kills from an earlier life.
    oom_kills_at_create_ = read_oom_kills(memory_cgroup_).value_or(0);
  }
  // The sockets exist before the container runs, so a caller that attaches
  // right after "ready" has missed at most what the container printed since.
  attach_listen_ = listen_unix(kAttachSock);
  control_listen_ = listen_unix(kControlSock);
}

void Shim::abort() { run_runtime(o_, {"delete", "--force", o_.id}); }

void Shim::start() {
  RuntimeResult r = run_runtime(o_, {"start", o_.id});
  if (!r.ok()) {
    std::string text = r.error_text("start");
    run_runtime(o_, {"delete", "--force", o_.id});
    throw Error(text);
  }
}

void Shim::create_container() {
  std::vector<std::string> verb{"create", "--bundle", o_.bundle, "--pid-file", path_join(o_.state_dir, "init.pid")};
  UniqueFd in_r, out_w, err_w, console;
  UniqueFd runtime_err;  // where the runtime's own stderr is read from
  auto make_pipe = [](UniqueFd* r, UniqueFd* w) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
    r->reset(p[0]);
    w->reset(p[1]);
  };
  if (o_.terminal) {
    console = listen_unix(kConsoleSock);
    std::string abs = path_join(o_.state_dir, kConsoleSock);
    // The runtime runs in our working directory (the state dir), so the
    // short relative name works when the absolute one exceeds sun_path.
    verb.push_back("--console-socket");
    verb.push_back(abs.size() < 100 ? abs : kConsoleSock);
    make_pipe(&runtime_err, &err_w);
  } else {
    make_pipe(&out_r_, &out_w);
    // The init inherits the runtime's stderr, so the runtime's own error
    // messages arrive on the container's stderr pipe, before any output.
    make_pipe(&err_r_, &err_w);
    if (o_.stdin) make_pipe(&in_r, &stdin_w_);
  }
  verb.push_back(o_.id);

  pid_t pid = spawn(runtime_argv(o_, verb), in_r.get(), out_w.get(), err_w.get());
  // Only the container may hold the write ends, or EOF would never come.
  in_r.reset();
  out_w.reset();
  err_w.reset();
  int status = wait_pid(pid);
  int err_fd = o_.terminal ? runtime_err.get() : err_r_.get();
  set_nonblock(err_fd);
  RuntimeResult res{status, drain_available(err_fd)};
  if (!res.ok()) throw Error(res.error_text("create"));
  // Warnings of a successful create are the runtime's, not the container's
  // output: they go to the shim's own log.
  if (!res.stderr_text.empty()) warn("runtime create: " + std::string(trim(res.stderr_text)));

  if (o_.terminal) {
    int conn = ::accept4(console.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) fail_errno("console socket: runtime sent no pty");
    UniqueFd c(conn);
    pty_ = recv_fd(c.get());
    set_nonblock(pty_.get());
    ::unlink(kConsoleSock);
  } else {
    set_nonblock(out_r_.get());
    if (stdin_w_.valid()) set_nonblock(stdin_w_.get());
  }

  std::string pid_text = read_file(path_join(o_.state_dir, "init.pid"));
  long long p = 0;
  if (!parse_int64(trim(pid_text), &p) || p <= 0) fail("bad init pid file: {:?}", pid_text);
  init_pid_ = static_cast<pid_t>(p);
}

void Shim::watch(int fd, uint32_t events) {
  struct epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  bool known = watched_.count(fd) != 0;
  if (known && watched_[fd] == events) return;
  if (::epoll_ctl(epoll_.get(), known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) fail_errno("epoll_ctl");
  watched_[fd] = events;
}

void Shim::run() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) fail_errno("epoll_create1");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigfd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!sigfd_.valid()) fail_errno("signalfd");
  watch(sigfd_.get(), EPOLLIN);
  watch(attach_listen_.get(), EPOLLIN);
  watch(control_listen_.get(), EPOLLIN);
  if (out_r_.valid()) watch(out_r_.get(), EPOLLIN);
  if (err_r_.valid()) watch(err_r_.get(), EPOLLIN);
  if (pty_.valid()) watch(pty_.get(), EPOLLIN);
  on_signal();  // the init may have exited before the signalfd existed
  // Clients that connected before the start are in the listen backlog; they
  // join before any output is read, so they miss nothing.
  accept_clients(attach_listen_.get(), false);
  accept_clients(control_listen_.get(), true);

  long long deadline = 0;
  for (;;) {
    bool outputs_open = out_r_.valid() || err_r_.valid() || pty_.valid();
    int timeout = -1;
    if (init_exited_) {
      if (!outputs_open) break;
      if (deadline == 0) deadline = now_millis() + kDrainMillis;
      timeout = static_cast<int>(deadline - now_millis());
      if (timeout <= 0) break;
    }
    struct epoll_event evs[32];
    int n = ::epoll_wait(epoll_.get(), evs, 32, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      uint32_t e = evs[i].events;
      if (fd == sigfd_.get()) {
        on_signal();
      } else if (fd == attach_listen_.get() || fd == control_listen_.get()) {
        accept_clients(fd, fd == control_listen_.get());
      } else if (fd == stdin_w_.get()) {
        flush_stdin();
      } else if (fd == out_r_.get() || fd == err_r_.get() || fd == pty_.get()) {
        if ((e & EPOLLOUT) && fd == pty_.get()) flush_stdin();
        if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_output(fd);
      } else if (clients_.count(fd)) {
        on_client(fd, e);
      }
    }
  }
  finish();
}

void Shim::on_signal() {
  struct signalfd_siginfo si;
  while (::read(sigfd_.get(), &si, sizeof si) > 0) {
  }
  // Reap everything: orphans reparented to us (we are a subreaper) must
  // not linger as zombies.
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    if (pid == init_pid_ && !init_exited_) {
      init_exited_ = true;
      init_status_ = status;
      exited_at_ = now_realtime();
    }
  }
}

void Shim::on_output(int fd) {
  char buf[32 * 1024];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    handle_output(fd == err_r_.get() ? Stream::kStderr : Stream::kStdout, std::string_view(buf, n));
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  // EOF; a pty master reads EIO once the last slave descriptor is closed.
  close_output(fd);
}

void Shim::handle_output(Stream stream, std::string_view data) {
  if (log_) {
    struct timespec t = now_realtime();
    const char* name = stream == Stream::kStderr ? "stderr" : "stdout";
    LineSplitter& split = stream == Stream::kStderr ? err_split_ : out_split_;
    try {
      split.feed(data, [&](std::string_view chunk) { log_->append(json_log_line(chunk, name, t)); });
    } catch (const Error& e) {
      // A full disk must not take the container's monitor down with it.
      warn(e.what());
    }
  }
  if (clients_.empty()) return;
  std::string framed;
  if (!o_.terminal) append_frame(&framed, stream, data);
  std::string_view payload = o_.terminal ? data : std::string_view(framed);
  std::vector<int> slow;
  for (auto& [fd, c] : clients_) {
    if (c->control) continue;
    send_to(*c, payload);
    if (c->out.size() > kClientBacklog) slow.push_back(fd);
  }
  for (int fd : slow) {
    warn("attach client too slow, disconnected");
    drop_client(fd);
  }
}

void Shim::close_output(int fd) {
  bool err = fd == err_r_.get();
  if (log_) {
    struct timespec t = now_realtime();
    const char* name = err ? "stderr" : "stdout";
    try {
      (err ? err_split_ : out_split_).finish([&](std::string_view chunk) {
        log_->append(json_log_line(chunk, name, t));
      });
    } catch (const Error& e) {
      warn(e.what());
    }
  }
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watched_.erase(fd);
  if (fd == out_r_.get()) out_r_.reset();
  if (fd == err_r_.get()) err_r_.reset();
  if (fd == pty_.get()) {
    pty_.reset();
    stdin_buf_.clear();
  }
}

void Shim::accept_clients(int listen_fd, bool control) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // EAGAIN, or a client that vanished meanwhile
    auto c = std::make_unique<Client>();
    c->fd.reset(fd);
    c->control = control;
    Client& ref = *c;
    clients_[fd] = std::move(c);
    rearm(ref);
  }
}

void Shim::send_to(Client& c, std::string_view data) {
  if (c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) n = 0;  // EAGAIN; a dead peer shows up as EPOLLERR/HUP
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (data.empty()) return;
  c.out.append(data);
  rearm(c);
}

void Shim::rearm(Client& c) {
  bool want_read = c.read_open && (c.control || stdin_buf_.size() < kStdinBacklog);
  // EPOLLHUP/EPOLLERR are reported even with no events set, so a client
  // we no longer read from is still noticed when it goes away.
  watch(c.fd.get(), (want_read ? kIn : 0) | (c.out.empty() ? 0 : kOut));
}

void Shim::drop_client(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watched_.erase(fd);
  clients_.erase(fd);
}

void Shim::on_client(int fd, uint32_t events) {
  Client& c = *clients_[fd];
  if (events & EPOLLERR) return drop_client(fd);
  if ((events & EPOLLOUT) && !c.out.empty()) {
    ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return drop_client(fd);
    if (n > 0) c.out.erase(0, static_cast<size_t>(n));
  }
  if ((events & (EPOLLIN | EPOLLHUP)) && c.read_open) {
    char buf[16 * 1024];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      std::string_view data(buf, static_cast<size_t>(n));
      if (!c.control) {
        queue_stdin(data);
      } else {
        c.in.append(data);
        size_t nl;
        while ((nl = c.in.find('\n')) != std::string::npos) {
          std::string line = c.in.substr(0, nl);
          c.in.erase(0, nl + 1);
          control_command(c, line);
        }
        if (c.in.size() > 4096) return drop_client(fd);
      }
    } else if (n == 0) {
      c.read_open = false;
      if (c.control) return drop_client(fd);
      if (o_.stdin && o_.stdin_once) close_stdin();
    } else if (errno != EAGAIN && errno != EINTR) {
      return drop_client(fd);
    }
  } else if ((events & EPOLLHUP) && !c.read_open) {
    return drop_client(fd);
  }
  if (clients_.count(fd)) rearm(c);
}

void Shim::control_command(Client& c, std::string_view line) {
  std::vector<std::string> words;
  for (auto& w : split(trim(line), ' '))
    if (!w.empty()) words.push_back(w);
  std::string reply = "ok\n";
  if (words.size() == 3 && words[0] == "resize") {
    unsigned long long rows = 0, cols = 0;
    if (!parse_uint64(words[1], &rows) || !parse_uint64(words[2], &cols) || rows > 0xFFFF || cols > 0xFFFF) {
      reply = "error bad size\n";
    } else if (!pty_.valid()) {
      reply = "error no terminal\n";
    } else {
      struct winsize ws{};
      ws.ws_row = static_cast<unsigned short>(rows);
      ws.ws_col = static_cast<unsigned short>(cols);
      if (::ioctl(pty_.get(), TIOCSWINSZ, &ws) != 0) reply = "error " + strerror_text(errno) + "\n";
    }
  } else if (words.size() == 1 && words[0] == "close-stdin") {
    close_stdin();
  } else {
    reply = "error unknown command\n";
  }
  send_to(c, reply);
}

void Shim::queue_stdin(std::string_view data) {
  bool open = o_.terminal ? pty_.valid() : stdin_w_.valid();
  if (!o_.stdin || !open || stdin_close_pending_) return;
  stdin_buf_.append(data);
  flush_stdin();
}

void Shim::flush_stdin() {
  int fd = o_.terminal ? pty_.get() : stdin_w_.get();
  bool was_full = stdin_buf_.size() >= kStdinBacklog;
  while (fd >= 0 && !stdin_buf_.empty()) {
    ssize_t n = ::write(fd, stdin_buf_.data(), stdin_buf_.size());
    if (n > 0) {
      stdin_buf_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    // EPIPE: nobody in the container reads stdin any more.
    stdin_buf_.clear();
    if (!o_.terminal) stdin_close_pending_ = true;
  }
  if (o_.terminal) {
    if (pty_.valid()) watch(pty_.get(), kIn | (stdin_buf_.empty() ? 0 : kOut));
  } else if (stdin_w_.valid()) {
    watch(stdin_w_.get(), stdin_buf_.empty() ? 0 : kOut);
  }
  if (stdin_buf_.empty() && stdin_close_pending_) {
    if (o_.terminal) {
      // A pty has no half-close: the line discipline's EOF character is
      // what makes a reader in canonical mode see end of input.
      if (pty_.valid()) {
        ssize_t ignored = ::write(pty_.get(), "\x04", 1);
        (void)ignored;
      }
      stdin_close_pending_ = false;
    } else if (stdin_w_.valid()) {
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, stdin_w_.get(), nullptr);
      watched_.erase(stdin_w_.get());
      stdin_w_.reset();
    }
  }
  if (was_full && stdin_buf_.size() < kStdinBacklog)
    for (auto& [cfd, c] : clients_) rearm(*c);
}

void Shim::close_stdin() {
  stdin_close_pending_ = true;
  flush_stdin();
}

void Shim::finish() {
  if (out_r_.valid()) close_output(out_r_.get());
  if (err_r_.valid()) close_output(err_r_.get());
  if (pty_.valid()) close_output(pty_.get());
  log_.reset();  // closes the file: everything is on disk before exit.json says "exited"
  // Read now: the cgroup goes with the runtime's delete below.
  bool oom_killed = false;
  if (!memory_cgroup_.empty()) {
    std::optional<uint64_t> kills = read_oom_kills(memory_cgroup_);
    oom_killed = kills && *kills > oom_kills_at_create_;
    if (!kills) warn("no OOM-kill count in " + memory_cgroup_);
  }
  try {
    write_file_replace(path_join(o_.state_dir, "exit.json"),
                       exit_json(init_status_, init_pid_, exited_at_, oom_killed));
  } catch (const Error& e) {
    warn(e.what());
  }
  for (auto& [fd, c] : clients_) {
    if (c->control || c->out.empty()) continue;
    // Blocking, bounded: a client gets the tail of the output unless it
    // stopped reading altogether.
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string_view rest = c->out;
    while (!rest.empty()) {
      ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      rest.remove_prefix(static_cast<size_t>(n));
    }
  }
  clients_.clear();
  ::unlink(kAttachSock);
  ::unlink(kControlSock);
  if (o_.cleanup) {
    RuntimeResult r = run_runtime(o_, {"delete", o_.id});
    if (!r.ok()) warn("cleanup: " + std::string(trim(r.error_text("delete"))));
  }
}

}  // namespace berth::shim
