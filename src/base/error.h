// Error reporting for all of Berth.
//
// Contract: failures are reported by throwing berth::Error, whose message is a
// single line that names what was being done and why it failed
// ("mount proc on /proc: permission denied"). Callers add context by catching
// and rethrowing with Error::wrap. Exceptions (rather than Status returns)
// keep the many-step kernel set-up code linear; they never cross a fork/clone
// boundary (the child reports errors over a pipe, see runtime/).
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace berth {

// strerror(err) with a lower-case first letter, as in "permission denied".
std::string strerror_text(int err);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}

  // "context: original message".
  Error wrap(std::string_view context) const {
    return Error(fmt::format("{}: {}", context, what()));
  }
};

// Throws Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

// Throws Error "<message>: <strerror(errno)>"; call right after the failing syscall.
template <typename... Args>
[[noreturn]] void fail_errno(fmt::format_string<Args...> f, Args&&... args) {
  int e = errno;
  throw Error(fmt::format("{}: {}", fmt::format(f, std::forward<Args>(args)...), strerror_text(e)));
}

}  // namespace berth
