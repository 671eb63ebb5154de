#include "engine/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/fd.h"
#include "base/fs.h"
#include "engine/events.h"

namespace berth::engine {

namespace {

bool parse_record(std::string_view line, LogRecord* r) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  r->log = j.value("log", "");
  r->stream = j.value("stream", "stdout");
  r->time = j.value("time", "");
  long long n = 0;
  r->time_nano = parse_rfc3339_nano(r->time, &n) ? n : 0;
  return true;
}

bool wanted(const LogQuery& q, const LogRecord& r) {
  if (r.stream == "stdout" ? !q.stdout : !q.stderr) return false;
  if (r.time_nano < q.since_nano) return false;
  if (q.until_nano && r.time_nano >= q.until_nano) return false;
  return true;
}

// The rotated files that exist, oldest first, then the live one.
std::vector<std::string> log_files(const std::string& path) {
  std::vector<std::string> older;
  for (int i = 1;; ++i) {
    std::string p = path + "." + std::to_string(i);
    if (!path_exists(p)) break;
    older.push_back(p);
  }
  std::vector<std::string> out(older.rbegin(), older.rend());
  out.push_back(path);
  return out;
}

// Feeds complete lines from fd to `line`; keeps a partial last line in *partial.
bool pump(int fd, std::string* partial, const std::function<bool(std::string_view)>& line) {
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    partial->append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = partial->find('\n', start)) != std::string::npos) {
      if (!line(std::string_view(*partial).substr(start, nl - start))) return false;
      start = nl + 1;
    }
    partial->erase(0, start);
  }
}

}  // namespace

void read_logs(const std::string& log_path, const LogQuery& q, const std::function<bool()>& still_running,
               const std::function<bool(const LogRecord&)>& sink, std::stop_token stop) {
  auto deliver = [&](std::string_view line) {
    LogRecord r;
    if (!parse_record(line, &r) || !wanted(q, r)) return true;
    return sink(r);
  };

  // History: everything up to the current end of the live file.
  UniqueFd live;
  std::string partial;
  if (q.tail >= 0) {
    std::deque<LogRecord> last;
    if (q.tail > 0) {
      for (const auto& f : log_files(log_path)) {
        UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd.valid()) continue;
        std::string part;
        pump(fd.get(), &part, [&](std::string_view line) {
          LogRecord r;
          if (parse_record(line, &r) && wanted(q, r)) {
            last.push_back(std::move(r));
            if (static_cast<long long>(last.size()) > q.tail) last.pop_front();
          }
          return true;
        });
        if (f == log_path) live = std::move(fd), partial = std::move(part);
      }
    } else {
      live.reset(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (live.valid()) ::lseek(live.get(), 0, SEEK_END);
    }
    for (const auto& r : last)
      if (!sink(r)) return;
  } else {
    for (const auto& f : log_files(log_path)) {
      UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) continue;
      std::string part;
      if (!pump(fd.get(), &part, deliver)) return;
      if (f == log_path) live = std::move(fd), partial = std::move(part);
    }
  }
  if (!q.follow) return;

  // Follow: poll for growth; a rotation shows as a new inode at log_path.
  for (;;) {
    if (stop.stop_requested()) return;
    bool running = still_running();  // sampled before reading: nothing written before the exit is missed
    if (live.valid() && !pump(live.get(), &partial, deliver)) return;
    struct stat cur, now;
    bool rotated = !live.valid() ||
                   (::fstat(live.get(), &cur) == 0 && ::stat(log_path.c_str(), &now) == 0 &&
                    (cur.st_ino != now.st_ino || cur.st_dev != now.st_dev));
    if (rotated) {
      UniqueFd next(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (next.valid()) {
        if (live.valid() && !pump(live.get(), &partial, deliver)) return;
        live = std::move(next);
        partial.clear();
        continue;
      }
    }
    if (!running) return;
    if (q.until_nano && now_nanos() >= q.until_nano) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace berth::engine
