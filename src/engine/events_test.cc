#include "engine/events.h"

#include <thread>

#include <gtest/gtest.h>

namespace berth::engine {
namespace {

TEST(EventLog, HistoryFromSinceThenLiveUntilDeadline) {
  EventLog log;
  log.publish({"container", "create", "a", {{"name", "x"}}, 0});
  int64_t mid = now_nanos();
  log.publish({"container", "start", "a", {{"name", "x"}}, 0});
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log.publish({"image", "tag", "img", {}, 0});
    log.publish({"container", "die", "a", {{"exitCode", "0"}}, 0});
  });
  std::vector<std::string> seen;
  std::stop_source never;
  log.subscribe(mid, now_nanos() + 400'000'000, [](const Event& e) { return e.type == "container"; },
                [&](const Event& e) {
                  seen.push_back(e.action);
                  return true;
                },
                never.get_token());
  later.join();
  EXPECT_EQ(seen, (std::vector<std::string>{"start", "die"}));
}

TEST(EventLog, TimesStrictlyIncreaseAndJsonHasDockersFields) {
  EventLog log;
  for (int i = 0; i < 3; ++i) log.publish({"container", "create", "id", {{"image", "busybox"}}, 0});
  std::vector<Event> got;
  std::stop_source never;
  log.subscribe(0, now_nanos(), [](const Event&) { return true; },
                [&](const Event& e) {
                  got.push_back(e);
                  return true;
                },
                never.get_token());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_LT(got[0].time_nano, got[1].time_nano);
  EXPECT_LT(got[1].time_nano, got[2].time_nano);
  auto j = got[0].to_json();
  EXPECT_EQ(j["Type"], "container");
  EXPECT_EQ(j["status"], "create");
  EXPECT_EQ(j["from"], "busybox");
  EXPECT_EQ(j["Actor"]["Attributes"]["image"], "busybox");
  EXPECT_EQ(j["time"].get<int64_t>(), got[0].time_nano / 1000000000);
}

TEST(EventLog, StopTokenEndsALiveSubscription) {
  EventLog log;
  std::stop_source stop;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.request_stop();
  });
  log.subscribe(now_nanos(), 0, [](const Event&) { return true; }, [](const Event&) { return true; },
                stop.get_token());
  t.join();
  SUCCEED() << "returned after stop";
}

}  // namespace
}  // namespace berth::engine
