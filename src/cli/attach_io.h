// Moving a hijacked attach/exec session's bytes between the user's stdio
// and the daemon, as docker's hijackedIOStreamer does.
//
// Contract: pump() returns when the daemon closes the output side
// (kOutputClosed) or the user typed the detach keys on a tty
// (kDetached). Without a tty the daemon's frames are split onto out_fd and
// err_fd; a daemon error frame throws. When our stdin ends, the write half of
// the connection is shut down so the process sees EOF, and output keeps
// flowing. SIGWINCH calls on_resize; with on_signal set, the usual
// terminating signals are handed to it instead of ending the CLI (docker's
// --sig-proxy).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "cli/api_client.h"

namespace berth::cli {

// docker's term.ToBytes: "ctrl-p,ctrl-q" -> "\x10\x11"; throws on bad keys.
std::string parse_detach_keys(std::string_view spec);

// Finds the detach sequence in typed input, holding back a partial match
// until it is decided (moby/term's escapeProxy).
class EscapeDetector {
 public:
  explicit EscapeDetector(std::string keys) : keys_(std::move(keys)) {}
  // Returns the bytes to forward; sets *detached when the whole sequence arrived.
  std::string feed(std::string_view in, bool* detached);

 private:
  std::string keys_;
  size_t matched_ = 0;
};

struct PumpOptions {
  bool tty = false;
  bool forward_stdin = false;
  std::string detach_keys;  // bytes; empty: never detach
  int in_fd = 0, out_fd = 1, err_fd = 2;
  std::function<void()> on_resize;
  std::function<void(int)> on_signal;
};

enum class PumpEnd { kOutputClosed, kDetached };

PumpEnd pump(Hijacked& session, const PumpOptions& opts);

}  // namespace berth::cli
