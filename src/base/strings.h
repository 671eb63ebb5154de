// Small string helpers shared by every library.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth {

std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string_view trim(std::string_view s);
// ASCII lower case (docker's names and keywords are ASCII).
std::string to_lower(std::string_view s);
// Parses a non-negative decimal integer; false on anything else or overflow.
bool parse_uint64(std::string_view s, unsigned long long* out);
bool parse_int64(std::string_view s, long long* out);

}  // namespace berth
