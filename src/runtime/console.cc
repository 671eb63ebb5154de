#include "runtime/console.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"

namespace berth::runtime {

Pty open_pty() {
  Pty p;
  p.master = UniqueFd(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.master.valid()) fail_errno("open /dev/ptmx");
  int unlock = 0;
  if (::ioctl(p.master.get(), TIOCSPTLCK, &unlock) != 0) fail_errno("unlock pty");
  // TIOCGPTPEER opens the peer through the master itself: no path lookup to race.
  p.slave = UniqueFd(::ioctl(p.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.slave.valid()) fail_errno("open pty peer");
  unsigned int n;
  if (::ioctl(p.master.get(), TIOCGPTN, &n) != 0) fail_errno("get pty number");
  p.slave_path = "/dev/pts/" + std::to_string(n);
  return p;
}

void set_window_size(int fd, const oci::ConsoleSize& size) {
  struct winsize ws {};
  ws.ws_row = static_cast<unsigned short>(size.height);
  ws.ws_col = static_cast<unsigned short>(size.width);
  ::ioctl(fd, TIOCSWINSZ, &ws);
}

int make_controlling_terminal(int slave) {
  if (::setsid() < 0) return -errno;
  if (::ioctl(slave, TIOCSCTTY, 0) != 0) return -errno;
  for (int i = 0; i < 3; ++i)
    if (::dup2(slave, i) < 0) return -errno;
  return 0;
}

void copy_window_size(int from, int to) {
  struct winsize ws;
  if (::ioctl(from, TIOCGWINSZ, &ws) == 0) ::ioctl(to, TIOCSWINSZ, &ws);
}

bool write_all(int fd, const char* buf, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

RawTerminal::RawTerminal() {
  struct termios t;
  if (!::isatty(0) || ::tcgetattr(0, &t) != 0) return;
  saved_ = t;
  cfmakeraw(&t);
  active_ = ::tcsetattr(0, TCSANOW, &t) == 0;
}

RawTerminal::~RawTerminal() {
  if (active_) ::tcsetattr(0, TCSANOW, &saved_);
}

}  // namespace berth::runtime
