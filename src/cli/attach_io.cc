#include "cli/attach_io.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "base/strings.h"
#include "cli/stream.h"

namespace berth::cli {

std::string parse_detach_keys(std::string_view spec) {
  std::string out;
  for (const std::string& raw : split(spec, ',')) {
    std::string k = raw;
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (k.size() > 5 && k.starts_with("ctrl-")) {
      std::string_view key = std::string_view(k).substr(5);
      char c = key.size() == 1 ? key[0] : 0;
      if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 1);
      else if (c == '@') out += '\0';
      else if (c == '[') out += '\x1b';
      else if (c == '\\') out += '\x1c';
      else if (c == ']') out += '\x1d';
      else if (c == '^') out += '\x1e';
      else if (c == '_') out += '\x1f';
      else fail("Invalid escape keys ({}) provided", spec);
    } else if (raw.size() == 1) {
      out += raw[0];
    } else {
      fail("Invalid escape keys ({}) provided", spec);
    }
  }
  return out;
}

std::string EscapeDetector::feed(std::string_view in, bool* detached) {
  *detached = false;
  std::string out;
  if (keys_.empty()) return std::string(in);
  for (char c : in) {
    if (c == keys_[matched_]) {
      if (++matched_ == keys_.size()) {
        *detached = true;
        return out;
      }
      continue;
    }
    // A partial match that did not continue: the held-back bytes were input.
    out.append(keys_, 0, matched_);
    matched_ = 0;
    if (c == keys_[0]) matched_ = 1;
    else out += c;
  }
  return out;
}

namespace {

// Blocks the signals the pump listens to for as long as it runs, and reads
// them from a signalfd.
class SignalWatch {
 public:
  explicit SignalWatch(bool proxy) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGWINCH);
    if (proxy)
      for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    fd_ = ::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  ~SignalWatch() {
    if (fd_ >= 0) ::close(fd_);
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  int fd() const { return fd_; }
  int next() {
    struct signalfd_siginfo si;
    if (::read(fd_, &si, sizeof si) != sizeof si) return 0;
    return static_cast<int>(si.ssi_signo);
  }

 private:
  sigset_t set_, old_;
  int fd_ = -1;
};

}  // namespace

PumpEnd pump(Hijacked& session, const PumpOptions& o) {
  int conn = session.fd.get();
  FrameDemuxer demux([&](int stream, std::string_view payload) {
    if (stream == 3) fail("error from daemon in stream: {}", payload);
    write_all(stream == 2 ? o.err_fd : o.out_fd, payload);
  });
  auto deliver = [&](std::string_view data) {
    if (o.tty) write_all(o.out_fd, data);
    else demux.feed(data);
  };
  if (!session.buffered.empty()) deliver(session.buffered);

  SignalWatch signals(static_cast<bool>(o.on_signal));
  EscapeDetector escape(o.tty ? o.detach_keys : "");
  bool stdin_open = o.forward_stdin;
  std::string buf(64 * 1024, '\0');
  while (true) {
    struct pollfd fds[3];
    int n = 0;
    fds[n++] = {conn, POLLIN, 0};
    int sig_idx = -1, in_idx = -1;
    if (signals.fd() >= 0) {
      sig_idx = n;
      fds[n++] = {signals.fd(), POLLIN, 0};
    }
    if (stdin_open) {
      in_idx = n;
      fds[n++] = {o.in_fd, POLLIN, 0};
    }
    if (::poll(fds, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      fail_errno("poll");
    }
    if (fds[0].revents) {
      ssize_t r = ::read(conn, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return PumpEnd::kOutputClosed;
      deliver(std::string_view(buf.data(), static_cast<size_t>(r)));
    }
    if (sig_idx >= 0 && fds[sig_idx].revents) {
      for (int s; (s = signals.next()) != 0;) {
        if (s == SIGWINCH) {
          if (o.on_resize) o.on_resize();
        } else if (o.on_signal) {
          o.on_signal(s);
        }
      }
    }
    if (in_idx >= 0 && fds[in_idx].revents) {
      ssize_t r = ::read(o.in_fd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        stdin_open = false;
        ::shutdown(conn, SHUT_WR);
        continue;
      }
      bool detached = false;
      std::string fwd = escape.feed(std::string_view(buf.data(), static_cast<size_t>(r)), &detached);
      try {
        write_all(conn, fwd);
      } catch (const Error&) {
        stdin_open = false;  // the process closed its stdin; keep reading output
      }
      if (detached) return PumpEnd::kDetached;
    }
  }
}

}  // namespace berth::cli
