// Logger: runc-style diagnostics. Messages go to a log file (--log) in text
// or JSON lines ({"level","msg","time"}, what containerd parses), or to
// stderr when no file is set. Owned by main and passed down; not global.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace berth {

class Logger {
 public:
  enum class Level { kDebug, kInfo, kWarn, kError };

  // program prefixes lines written to stderr ("berth-runtime: ...").
  explicit Logger(std::string program = "berth") : program_(std::move(program)) {}
  // path empty: stderr. json: one JSON object per line.
  void configure(const std::string& path, bool json, bool debug);

  void log(Level level, std::string_view msg) const;
  template <typename... Args>
  void debug(fmt::format_string<Args...> f, Args&&... a) const {
    if (debug_) log(Level::kDebug, fmt::format(f, std::forward<Args>(a)...));
  }
  template <typename... Args>
  void warn(fmt::format_string<Args...> f, Args&&... a) const {
    log(Level::kWarn, fmt::format(f, std::forward<Args>(a)...));
  }
  void error(std::string_view msg) const { log(Level::kError, msg); }
  bool has_file() const { return fd_ >= 0; }
  int fd() const { return fd_; }

 private:
  std::string program_;
  int fd_ = -1;
  bool json_ = false;
  bool debug_ = false;
};

}  // namespace berth
