// EventLog: docker's event stream (/events): every container and image
// action the engine takes, kept in a bounded in-memory history for `since`
// queries and fanned out to live subscribers.
//
// Contract: publish() stamps the event (time, timeNano) and never blocks on a
// subscriber. A subscriber receives the history from `since` (whole-second
// or nano precision) and then live events in order, until it is closed or
// the deadline passes. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include <nlohmann/json.hpp>

namespace berth::engine {

struct Event {
  std::string type;    // "container", "image", "network", "volume", "daemon"
  std::string action;  // "create", "start", "die", "exec_start: sh", ...
  std::string id;      // Actor.ID
  std::map<std::string, std::string> attributes;  // Actor.Attributes
  int64_t time_nano = 0;

  // Docker's JSON (status/id/from for containers and images, Type, Action,
  // Actor, scope, time, timeNano).
  nlohmann::json to_json() const;
};

class EventLog {
 public:
  explicit EventLog(size_t history = 1024) : max_history_(history) {}

  void publish(Event e);

  // Calls sink for each event with time_nano in [since, until) that passes
  // accept, history first, then live ones. Returns when until is reached
  // (until 0: never), stop is requested, or sink returns false.
  void subscribe(int64_t since_nano, int64_t until_nano, const std::function<bool(const Event&)>& accept,
                 const std::function<bool(const Event&)>& sink, std::stop_token stop);

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Event> history_;
  uint64_t seq_ = 0;  // number of events ever published
  size_t max_history_;
};

int64_t now_nanos();

}  // namespace berth::engine
