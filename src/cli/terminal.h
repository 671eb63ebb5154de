// The user's terminal: raw mode for interactive sessions and its size.
//
// Contract: RawTerminal puts a tty fd into raw mode (as moby/term MakeRaw
// does) and restores the saved settings when destroyed or on restore();
// on a non-tty fd it does nothing. window_size() is {0,0} for a non-tty.
#pragma once

#include <termios.h>

namespace berth::cli {

bool is_terminal(int fd);

struct WindowSize {
  unsigned short rows = 0, cols = 0;
};
WindowSize window_size(int fd);

class RawTerminal {
 public:
  explicit RawTerminal(int fd);
  ~RawTerminal() { restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  void restore();

 private:
  int fd_ = -1;
  bool active_ = false;
  struct termios saved_{};
};

}  // namespace berth::cli
