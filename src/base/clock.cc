#include "base/clock.h"

#include <fmt/format.h>

namespace berth {

std::string rfc3339_nano(const struct timespec& t) {
  struct tm tm;
  gmtime_r(&t.tv_sec, &tm);
  std::string out = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (t.tv_nsec != 0) {
    std::string frac = fmt::format("{:09d}", t.tv_nsec);
    while (frac.back() == '0') frac.pop_back();
    out += '.';
    out += frac;
  }
  out += 'Z';
  return out;
}

std::string now_rfc3339_nano() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return rfc3339_nano(now);
}

}  // namespace berth
