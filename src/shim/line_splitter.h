// LineSplitter: cuts one output stream into log messages as docker's log
// copier does.
//
// Contract: feed() bytes as they arrive; emit(chunk) is called for every
// complete line, the chunk including its '\n'. A line longer than kMaxChunk
// (16 KiB, docker's copier buffer) is emitted in kMaxChunk pieces without
// '\n' ("partial" messages), its tail ending in '\n' as usual. finish()
// emits whatever is left (no '\n') at end of stream. Holds at most
// kMaxChunk-1 bytes between calls.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace berth::shim {

class LineSplitter {
 public:
  static constexpr size_t kMaxChunk = 16 * 1024;
  using Emit = std::function<void(std::string_view chunk)>;

  void feed(std::string_view data, const Emit& emit);
  void finish(const Emit& emit);

 private:
  std::string pending_;
};

}  // namespace berth::shim
