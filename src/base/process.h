// Running a helper program and capturing its output.
#pragma once

#include <string>
#include <vector>

namespace berth {

// Runs argv (PATH lookup for argv[0]) with stdin from /dev/null and returns
// its stdout; Error if it cannot start or exits non-zero.
std::string run_capture(const std::vector<std::string>& argv);

}  // namespace berth
