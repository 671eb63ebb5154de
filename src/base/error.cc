#include "base/error.h"

#include <cctype>
#include <cstring>

namespace berth {

std::string strerror_text(int err) {
  char buf[128];
  // GNU strerror_r returns the message pointer (may not use buf).
  const char* s = strerror_r(err, buf, sizeof buf);
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
  return out;
}

}  // namespace berth
