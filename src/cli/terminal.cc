#include "cli/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

namespace berth::cli {

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

WindowSize window_size(int fd) {
  struct winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) != 0) return {};
  return {ws.ws_row, ws.ws_col};
}

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  if (!is_terminal(fd) || ::tcgetattr(fd, &saved_) != 0) return;
  struct termios raw = saved_;
  raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  raw.c_oflag &= ~OPOST;
  raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  raw.c_cflag &= ~(CSIZE | PARENB);
  raw.c_cflag |= CS8;
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  active_ = ::tcsetattr(fd, TCSANOW, &raw) == 0;
}

void RawTerminal::restore() {
  if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  active_ = false;
}

}  // namespace berth::cli
