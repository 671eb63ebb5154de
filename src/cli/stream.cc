#include "cli/stream.h"

#include <unistd.h>

#include <cerrno>

#include "base/error.h"

namespace berth::cli {

void FrameDemuxer::feed(std::string_view data) {
  while (!data.empty()) {
    if (remaining_ == 0) {
      size_t take = std::min<size_t>(8 - header_.size(), data.size());
      header_.append(data.substr(0, take));
      data.remove_prefix(take);
      if (header_.size() < 8) return;
      stream_ = static_cast<unsigned char>(header_[0]);
      remaining_ = (uint32_t{static_cast<unsigned char>(header_[4])} << 24) |
                   (uint32_t{static_cast<unsigned char>(header_[5])} << 16) |
                   (uint32_t{static_cast<unsigned char>(header_[6])} << 8) |
                   uint32_t{static_cast<unsigned char>(header_[7])};
      header_.clear();
      if (stream_ > 3) fail("unrecognized input header: {}", stream_);
      continue;
    }
    size_t take = std::min<size_t>(remaining_, data.size());
    sink_(stream_, data.substr(0, take));
    remaining_ -= static_cast<uint32_t>(take);
    data.remove_prefix(take);
  }
}

std::string make_frame(int stream, std::string_view payload) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  uint32_t n = static_cast<uint32_t>(payload.size());
  f[4] = static_cast<char>(n >> 24);
  f[5] = static_cast<char>(n >> 16);
  f[6] = static_cast<char>(n >> 8);
  f[7] = static_cast<char>(n);
  return f + std::string(payload);
}

void JsonLineSplitter::feed(std::string_view data) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      line_.append(data);
      return;
    }
    line_.append(data.substr(0, nl));
    data.remove_prefix(nl + 1);
    finish();
  }
}

void JsonLineSplitter::finish() {
  std::string line = std::move(line_);
  line_.clear();
  if (line.find_first_not_of(" \t\r") == std::string::npos) return;
  sink_(nlohmann::json::parse(line));
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace berth::cli
