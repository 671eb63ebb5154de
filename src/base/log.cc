#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/error.h"

namespace berth {

void Logger::configure(const std::string& path, bool json, bool debug) {
  json_ = json;
  debug_ = debug;
  if (path.empty()) return;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_errno("open log file {}", path);
}

static const char* level_name(Logger::Level l) {
  switch (l) {
    case Logger::Level::kDebug: return "debug";
    case Logger::Level::kInfo: return "info";
    case Logger::Level::kWarn: return "warning";
    case Logger::Level::kError: return "error";
  }
  return "info";
}

void Logger::log(Level level, std::string_view msg) const {
  std::string line;
  if (json_) {
    nlohmann::json j{{"level", level_name(level)}, {"msg", std::string(msg)}, {"time", now_rfc3339_nano()}};
    line = j.dump() + "\n";
  } else if (fd_ >= 0) {
    line = fmt::format("{}: {}\n", level_name(level), msg);
  } else {
    line = level == Level::kError ? fmt::format("{}: {}\n", program_, msg)
                                  : fmt::format("{}: {}: {}\n", program_, level_name(level), msg);
  }
  int fd = fd_ >= 0 ? fd_ : STDERR_FILENO;
  // Best effort: a failing log write must not turn into a second error.
  ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
  if (fd_ >= 0 && level == Level::kError) {
    // Like runc, errors are also visible to a human caller.
    std::string plain = fmt::format("{}: {}\n", program_, msg);
    ignored = ::write(STDERR_FILENO, plain.data(), plain.size());
  }
}

}  // namespace berth
