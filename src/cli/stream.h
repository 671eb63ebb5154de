// The byte streams the Engine API sends back: docker's multiplexed stdio
// frames (attach, logs and exec without a tty) and newline-separated JSON
// messages (events, stats, pull and load progress).
//
// Contract: both splitters accept input cut anywhere and call their sink as
// soon as a piece is complete. FrameDemuxer passes payload on as it arrives
// (a large frame is not buffered whole); a frame header is 8 bytes: the
// stream (0 stdin, 1 stdout, 2 stderr, 3 daemon error), three zero bytes,
// and the payload length as a big-endian uint32.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace berth::cli {

class FrameDemuxer {
 public:
  using Sink = std::function<void(int stream, std::string_view payload)>;
  explicit FrameDemuxer(Sink sink) : sink_(std::move(sink)) {}

  void feed(std::string_view data);
  // True between frames: the stream may end here without losing data.
  bool at_boundary() const { return header_.empty() && remaining_ == 0; }

 private:
  Sink sink_;
  std::string header_;
  uint32_t remaining_ = 0;
  int stream_ = 0;
};

// Builds one frame (used by tests, and by anything that serves the API).
std::string make_frame(int stream, std::string_view payload);

class JsonLineSplitter {
 public:
  using Sink = std::function<void(const nlohmann::json&)>;
  explicit JsonLineSplitter(Sink sink) : sink_(std::move(sink)) {}

  void feed(std::string_view data);
  void finish();  // a last message without a trailing newline

 private:
  Sink sink_;
  std::string line_;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR; throws on
// failure (EPIPE included: a closed reader ends the command).
void write_all(int fd, std::string_view data);

}  // namespace berth::cli
