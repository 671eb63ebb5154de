#include "engine/events.h"

#include <time.h>

namespace berth::engine {

int64_t now_nanos() {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

nlohmann::json Event::to_json() const {
  nlohmann::json attrs = nlohmann::json::object();
  for (const auto& [k, v] : attributes) attrs[k] = v;
  nlohmann::json j{{"Type", type},
                   {"Action", action},
                   {"Actor", {{"ID", id}, {"Attributes", attrs}}},
                   {"scope", "local"},
                   {"time", time_nano / 1000000000},
                   {"timeNano", time_nano}};
  // The pre-1.22 fields the docker CLI still prints from.
  if (type == "container" || type == "image") {
    j["status"] = action;
    j["id"] = id;
    if (type == "container" && attributes.count("image")) j["from"] = attributes.at("image");
  }
  return j;
}

void EventLog::publish(Event e) {
  std::lock_guard lock(mu_);
  // Strictly increasing times keep since/until boundaries unambiguous.
  int64_t t = now_nanos();
  if (!history_.empty() && t <= history_.back().time_nano) t = history_.back().time_nano + 1;
  e.time_nano = t;
  history_.push_back(std::move(e));
  if (history_.size() > max_history_) history_.pop_front();
  ++seq_;
  cv_.notify_all();
}

void EventLog::subscribe(int64_t since_nano, int64_t until_nano, const std::function<bool(const Event&)>& accept,
                         const std::function<bool(const Event&)>& sink, std::stop_token stop) {
  std::unique_lock lock(mu_);
  // Position in the stream: events are numbered by seq; the history holds
  // the last history_.size() of them.
  uint64_t next = seq_ - history_.size();
  for (;;) {
    uint64_t first = seq_ - history_.size();
    if (next < first) next = first;  // fell behind the bounded history
    while (next < seq_) {
      Event e = history_[next - first];
      ++next;
      if (until_nano && e.time_nano >= until_nano) return;
      if (e.time_nano < since_nano || !accept(e)) continue;
      lock.unlock();
      bool more = sink(e);
      lock.lock();
      if (!more) return;
      first = seq_ - history_.size();
      if (next < first) next = first;
    }
    if (until_nano && now_nanos() >= until_nano) return;
    if (stop.stop_requested()) return;
    auto wait_for = std::chrono::milliseconds(500);
    if (until_nano) {
      auto left = std::chrono::nanoseconds(until_nano - now_nanos());
      if (left < wait_for) wait_for = std::chrono::duration_cast<std::chrono::milliseconds>(left) + std::chrono::milliseconds(1);
    }
    cv_.wait_for(lock, stop, wait_for, [&] { return next < seq_; });
  }
}

}  // namespace berth::engine
