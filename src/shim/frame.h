// Attach stream framing: docker's multiplexed stdio format.
//
// Contract: a frame is an 8-byte header [stream, 0, 0, 0, size as big-endian
// uint32] followed by size payload bytes; stream is 1 for stdout, 2 for
// stderr (0 would be stdin). This is what `docker attach` / the Engine API
// send for containers without a tty, so berthd can relay the shim's attach
// socket unchanged. With a tty the shim sends raw bytes instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::shim {

enum class Stream : uint8_t { kStdin = 0, kStdout = 1, kStderr = 2 };

void append_frame(std::string* out, Stream stream, std::string_view payload);

// Parses a frame header; false unless hdr holds 8 bytes with zero padding.
bool parse_frame_header(std::string_view hdr, Stream* stream, uint32_t* size);

}  // namespace berth::shim
