// Docker's JSON message streams (pull, push, load, import, build) shown the
// way the docker CLI shows them: moby's jsonmessage.DisplayJSONMessagesStream
// and JSONProgress.String().
//
// Contract:
// - feed() takes the stream cut anywhere; each complete line is one message.
// - A message with "errorDetail" (or the older "error") ends the display:
//   display()/feed()/finish() throw berth::Error carrying its message, and
//   nothing after it is shown. "aux" messages go to Options::aux, never out.
// - Terminal mode (stdout is a tty): every message with an "id" and a
//   "progressDetail" (even an empty one) owns one line, found by its offset
//   from the bottom of the block of such lines; the display moves the cursor
//   up to it ("\x1b[<n>A"), erases it ("\x1b[2K"), rewrites it ending in
//   "\r" and moves back down ("\x1b[<n>B"). Any other message starts a new
//   block (so `pull -a` does not rewrite the previous tag's lines).
//   Progress bars appear only when the terminal is wider than 110 columns.
// - Otherwise: messages whose progressDetail has a current or total are
//   skipped; others print "id: status" lines. "stream" text is printed raw
//   in both modes.
// - "time"/"timeNano" (events) are not shown: no stream this is used for
//   carries them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/stream.h"

namespace berth::cli {

// A message's "progressDetail".
struct JsonProgress {
  int64_t current = 0, total = 0;
  int64_t start = 0;  // unix seconds the transfer started, for the time left
  bool hide_counts = false;
  std::string units;  // empty: bytes
};

// JSONProgress.String(): "[=====>     ]  1.2MB/3.4MB 5s" for a terminal
// `width` columns wide (the bar needs > 110, the time left > 50); "" when
// neither current nor total is known. now_nanos is the wall clock.
std::string format_progress(const JsonProgress& p, int width, int64_t now_nanos);

class JsonMessageDisplay {
 public:
  using Writer = std::function<void(std::string_view)>;
  struct Options {
    bool terminal = false;
    std::function<int()> width;              // columns, asked per bar (resizes count); unset: 200
    std::function<int64_t()> now_nanos;      // unset: the real clock
    std::function<void(const nlohmann::json&)> aux;
  };

  JsonMessageDisplay(Writer out, Options opts);
  // Pinned: the line splitter calls back into this object.
  JsonMessageDisplay(const JsonMessageDisplay&) = delete;
  JsonMessageDisplay& operator=(const JsonMessageDisplay&) = delete;

  void feed(std::string_view data) { lines_.feed(data); }
  void finish() { lines_.finish(); }
  void display(const nlohmann::json& message);

 private:
  void show(const nlohmann::json& m, std::string& out) const;

  Writer out_;
  Options opts_;
  std::map<std::string, unsigned> lines_of_;  // id -> line in the current block
  JsonLineSplitter lines_;
};

// The display the CLI uses for its stdout: terminal mode when fd 1 is a tty
// (width from the tty). quiet: nothing is written, errors still throw.
JsonMessageDisplay stdout_display(bool quiet = false);

}  // namespace berth::cli
