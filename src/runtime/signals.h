// Signal names as runc's `kill` accepts them: "KILL", "SIGKILL", "9", "RTMIN+3".
#pragma once

#include <string>
#include <string_view>

namespace berth::runtime {

// Throws Error for an unknown name or out-of-range number.
int parse_signal(std::string_view text);

}  // namespace berth::runtime
