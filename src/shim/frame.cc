#include "shim/frame.h"

namespace berth::shim {

void append_frame(std::string* out, Stream stream, std::string_view payload) {
  auto size = static_cast<uint32_t>(payload.size());
  char hdr[8] = {static_cast<char>(stream), 0, 0, 0,
                 static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                 static_cast<char>(size >> 8), static_cast<char>(size)};
  out->append(hdr, sizeof hdr);
  out->append(payload);
}

bool parse_frame_header(std::string_view hdr, Stream* stream, uint32_t* size) {
  if (hdr.size() < 8 || hdr[1] != 0 || hdr[2] != 0 || hdr[3] != 0) return false;
  auto b = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(hdr[i])); };
  if (b(0) > 2) return false;
  *stream = static_cast<Stream>(b(0));
  *size = (b(4) << 24) | (b(5) << 16) | (b(6) << 8) | b(7);
  return true;
}

}  // namespace berth::shim
