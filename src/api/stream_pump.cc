#include "api/stream_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>
#include <thread>

#include "base/error.h"
#include "base/strings.h"

namespace berth::api {

namespace {

constexpr char kDefaultDetach[] = {0x10, 0x11};  // ctrl-p ctrl-q

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Passes stdin bytes through, holding back a possible detach sequence.
class DetachScanner {
 public:
  explicit DetachScanner(std::string keys) : keys_(std::move(keys)) {}
  // Returns bytes to forward; sets *detach when the sequence completed.
  std::string feed(std::string_view in, bool* detach) {
    std::string out;
    for (char ch : in) {
      if (keys_.empty()) {
        out.push_back(ch);
        continue;
      }
      if (ch == keys_[matched_]) {
        if (++matched_ == keys_.size()) {
          *detach = true;
          return out;
        }
        continue;
      }
      out.append(keys_, 0, matched_);
      matched_ = 0;
      if (ch == keys_[0]) {
        matched_ = 1;
        if (keys_.size() == 1) {
          *detach = true;
          return out;
        }
      } else {
        out.push_back(ch);
      }
    }
    return out;
  }

 private:
  std::string keys_;
  size_t matched_ = 0;
};

// Client stdin handling shared by attach and exec.
struct StdinSide {
  int target;
  bool close_on_eof;
  DetachScanner scanner;
  bool open = true;
  bool detached = false;

  // Returns false when the session should end (detached or client gone).
  bool handle(std::string_view data, const std::function<void()>& close_target) {
    if (data.empty()) {  // client EOF
      open = false;
      if (close_on_eof) close_target();
      return true;
    }
    std::string fwd = scanner.feed(data, &detached);
    if (target >= 0 && !fwd.empty() && !write_all(target, fwd)) target = -1;
    return !detached;
  }
};

}  // namespace

std::string docker_frame(int stream, std::string_view data) {
  uint32_t n = static_cast<uint32_t>(data.size());
  std::string out{static_cast<char>(stream), 0, 0, 0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                  static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(data);
  return out;
}

std::string parse_detach_keys(const std::string& spec) {
  if (spec.empty()) return std::string(kDefaultDetach, 2);
  std::string out;
  for (const auto& part : split(spec, ',')) {
    std::string k(trim(part));
    if (k.size() == 1) {
      out.push_back(k[0]);
    } else if (k.rfind("ctrl-", 0) == 0 && k.size() == 6) {
      char c = static_cast<char>(tolower(static_cast<unsigned char>(k[5])));
      if (c >= 'a' && c <= 'z') out.push_back(static_cast<char>(c - 'a' + 1));
      else if (c == '@') out.push_back(0);
      else if (c == '[') out.push_back(27);
      else if (c == '\\') out.push_back(28);
      else if (c == ']') out.push_back(29);
      else if (c == '^') out.push_back(30);
      else if (c == '_') out.push_back(31);
      else fail("Invalid escape keys ({}) provided", spec);
    } else {
      fail("Invalid escape keys ({}) provided", spec);
    }
  }
  return out;
}

void pump_attach(int client, const std::string& client_buffered, int shim, const AttachStreams& s) {
  StdinSide in{s.stdin ? shim : -1, s.close_stdin_on_eof, DetachScanner(s.stdin ? s.detach_keys : ""), true};
  auto close_shim_stdin = [&] { ::shutdown(shim, SHUT_WR); };
  if (!client_buffered.empty() && !in.handle(client_buffered, close_shim_stdin)) return;
  std::string frames;  // partial multiplexed input from the shim
  char buf[32 * 1024];
  for (;;) {
    struct pollfd fds[2] = {{shim, POLLIN, 0}, {in.open ? client : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(client, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      // The client's EOF only ends its input: the docker CLI half-closes at
      // once when it sends no stdin, and still wants all the output.
      if (n < 0) n = 0;
      if (!in.handle(std::string_view(buf, static_cast<size_t>(n)), close_shim_stdin)) return;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(shim, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      if (s.tty) {
        if (s.stdout && !write_all(client, std::string_view(buf, static_cast<size_t>(n)))) return;
        continue;
      }
      frames.append(buf, static_cast<size_t>(n));
      std::string out;
      size_t pos = 0;
      while (frames.size() - pos >= 8) {
        auto* h = reinterpret_cast<const unsigned char*>(frames.data() + pos);
        size_t len = (size_t{h[4]} << 24) | (size_t{h[5]} << 16) | (size_t{h[6]} << 8) | h[7];
        if (frames.size() - pos < 8 + len) break;
        if ((h[0] == 1 && s.stdout) || (h[0] == 2 && s.stderr)) out.append(frames, pos, 8 + len);
        pos += 8 + len;
      }
      frames.erase(0, pos);
      if (!out.empty() && !write_all(client, out)) return;
    }
  }
}

void pump_exec(int client, const std::string& client_buffered, int pty, int stdin_w, int stdout_r, int stderr_r,
               const AttachStreams& s) {
  int target = pty >= 0 ? pty : stdin_w;
  StdinSide in{s.stdin ? target : -1, true, DetachScanner(s.stdin ? s.detach_keys : ""), true};
  auto close_stdin = [&] {
    if (pty >= 0) {
      static const char kEof = 4;  // ^D: the tty's end of input
      write_all(pty, std::string_view(&kEof, 1));
    } else if (stdin_w >= 0) {
      ::close(stdin_w);
      stdin_w = -1;
      in.target = -1;
    }
  };
  if (!client_buffered.empty() && !in.handle(client_buffered, close_stdin)) return;
  int outs[2] = {pty >= 0 ? pty : stdout_r, pty >= 0 ? -1 : stderr_r};
  char buf[32 * 1024];
  while (outs[0] >= 0 || outs[1] >= 0) {
    struct pollfd fds[3] = {{outs[0], POLLIN, 0}, {outs[1], POLLIN, 0}, {in.open ? client : -1, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(client, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) n = 0;
      if (!in.handle(std::string_view(buf, static_cast<size_t>(n)), close_stdin)) return;
    }
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(outs[i], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // EOF, or EIO from a pty whose last slave closed
        outs[i] = -1;
        continue;
      }
      std::string_view data(buf, static_cast<size_t>(n));
      bool want = i == 0 ? s.stdout : s.stderr;
      if (!want) continue;
      if (s.tty) {
        if (!write_all(client, data)) return;
      } else {
        if (!write_all(client, docker_frame(i + 1, data))) return;
      }
    }
  }
}

void stream_tar(Response& res, const std::function<void(int)>& produce) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd r(p[0]), w(p[1]);
  std::exception_ptr error;
  std::thread writer([&] {
    try {
      produce(w.get());
    } catch (...) {
      error = std::current_exception();
    }
    w.reset();
  });
  char buf[256 * 1024];
  bool started = false, client_ok = true;
  for (;;) {
    ssize_t n = ::read(r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!started) {
      res.start_stream(200, "application/x-tar");
      started = true;
    }
    if (client_ok) client_ok = res.write(std::string_view(buf, static_cast<size_t>(n)));
  }
  r.reset();
  writer.join();
  if (error) std::rethrow_exception(error);  // mid-stream: the connection drops, the client sees a short tar
  if (!started) res.start_stream(200, "application/x-tar");
}


}  // namespace berth::api
