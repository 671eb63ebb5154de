// Timestamps as Docker and runc write them: Go's time.RFC3339Nano in UTC
// ("2006-01-02T15:04:05.999999999Z": trailing zeros of the fraction dropped,
// no fraction at all for whole seconds).
#pragma once

#include <time.h>

#include <cstdint>

#include <string>
#include <string_view>

namespace berth {

std::string rfc3339_nano(const struct timespec& t);
std::string now_rfc3339_nano();  // CLOCK_REALTIME
int64_t unix_seconds_now();       // CLOCK_REALTIME, whole seconds
// Parses RFC 3339 with an optional fraction and a "Z" or "+hh:mm" offset
// into nanoseconds since the epoch; false when malformed.
bool parse_rfc3339_nano(std::string_view s, long long* nanos);

}  // namespace berth
