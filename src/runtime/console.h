// Console: pseudo-terminals for process.terminal and the terminal helpers
// `run -t` uses when no console socket is given.
#pragma once

#include <termios.h>

#include <string>

#include "base/fd.h"
#include "oci/spec.h"

namespace berth::runtime {

struct Pty {
  UniqueFd master;
  UniqueFd slave;
  std::string slave_path;
};
// Opens a new pty on /dev/ptmx of the current mount namespace.
Pty open_pty();
void set_window_size(int fd, const oci::ConsoleSize& size);
// In the container process: new session, slave as controlling tty and stdio.
int make_controlling_terminal(int slave);

// Puts our stdin terminal (if it is one) in raw mode until destroyed.
class RawTerminal {
 public:
  RawTerminal();
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return active_; }

 private:
  bool active_ = false;
  struct termios saved_ {};
};

void copy_window_size(int from, int to);
// write(2) until done; false on error.
bool write_all(int fd, const char* buf, size_t n);

}  // namespace berth::runtime
