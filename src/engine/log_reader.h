// Reading a container's json-file log (written by berth-shim, rotated as
// <log>, <log>.1, ... <log>.N, oldest last) for /containers/{id}/logs.
//
// Contract: records are delivered oldest first, filtered by stream and by
// [since, until) in nanoseconds, the last `tail` of them when tail >= 0.
// With follow, reading continues past the end until `still_running`
// returns false and the file is exhausted, across rotations (a renamed
// file is read to its end before the new one is opened). A line that is
// not valid JSON (e.g. torn by a crash) is skipped, not fatal.
#pragma once

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>

namespace berth::engine {

struct LogRecord {
  std::string stream;  // "stdout" or "stderr"
  std::string log;     // the bytes, with their trailing newline if any
  std::string time;    // RFC 3339 nano, as recorded
  int64_t time_nano = 0;
};

struct LogQuery {
  bool stdout = true;
  bool stderr = true;
  int64_t since_nano = 0;
  int64_t until_nano = 0;  // 0: no bound
  long long tail = -1;     // -1: all
  bool follow = false;
};

// sink returns false to stop early.
void read_logs(const std::string& log_path, const LogQuery& q, const std::function<bool()>& still_running,
               const std::function<bool(const LogRecord&)>& sink, std::stop_token stop);

}  // namespace berth::engine
