#include "engine/health.h"

#include <gtest/gtest.h>

#include <atomic>

#include "base/clock.h"
#include "engine/errors.h"

namespace berth::engine {
namespace {

using nlohmann::json;

constexpr int64_t kSecond = 1'000'000'000;

TEST(HealthTest, NoHealthcheckWithoutATest) {
  EXPECT_FALSE(health_config(json::object()));
  EXPECT_FALSE(health_config({{"Healthcheck", nullptr}}));
  EXPECT_FALSE(health_config({{"Healthcheck", {{"Test", json::array()}}}}));
  EXPECT_FALSE(health_config({{"Healthcheck", {{"Test", {"NONE"}}}}}));
}

TEST(HealthTest, DefaultsAreDockers) {
  auto hc = health_config({{"Healthcheck", {{"Test", {"CMD", "true"}}}}});
  ASSERT_TRUE(hc);
  EXPECT_EQ(hc->argv, std::vector<std::string>({"true"}));
  EXPECT_EQ(hc->interval.count(), 30 * kSecond);
  EXPECT_EQ(hc->timeout.count(), 30 * kSecond);
  EXPECT_EQ(hc->start_period.count(), 0);
  EXPECT_EQ(hc->start_interval.count(), 30 * kSecond);
  EXPECT_EQ(hc->retries, 3);
}

TEST(HealthTest, DurationsAreNanoseconds) {
  auto hc = health_config({{"Healthcheck",
                            {{"Test", {"CMD-SHELL", "test -f /ok"}},
                             {"Interval", 200'000'000},
                             {"Timeout", 2 * kSecond},
                             {"StartPeriod", 10 * kSecond},
                             {"Retries", 2}}}});
  ASSERT_TRUE(hc);
  EXPECT_EQ(hc->argv, std::vector<std::string>({"/bin/sh", "-c", "test -f /ok"}));
  EXPECT_EQ(hc->interval.count(), 200'000'000);
  EXPECT_EQ(hc->timeout.count(), 2 * kSecond);
  EXPECT_EQ(hc->start_period.count(), 10 * kSecond);
  EXPECT_EQ(hc->retries, 2);
  EXPECT_EQ(hc->start_interval.count(), 200'000'000);  // falls back to the interval
}

TEST(HealthTest, CmdShellUsesTheContainersShell) {
  auto hc = health_config({{"Shell", {"/bin/ash", "-ec"}}, {"Healthcheck", {{"Test", {"CMD-SHELL", "true"}}}}});
  ASSERT_TRUE(hc);
  EXPECT_EQ(hc->argv, std::vector<std::string>({"/bin/ash", "-ec", "true"}));
}

TEST(HealthTest, UnknownTestKindIsRejected) {
  EXPECT_THROW(health_config({{"Healthcheck", {{"Test", {"BOGUS", "x"}}}}}), InvalidArgumentError);
}

ProbeResult result_at(const std::string& start, int code) { return {start, start, code, code ? "fail" : "ok"}; }

ContainerState started(const HealthConfig&) {
  ContainerState s;
  s.started_at = "2024-01-01T00:00:00Z";
  reset_health(s);
  return s;
}

TEST(HealthTest, SuccessMakesHealthyAndResetsTheStreak) {
  HealthConfig cfg;
  ContainerState s = started(cfg);
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:01Z", 1), cfg), "");
  EXPECT_EQ(s.failing_streak, 1);
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:02Z", 0), cfg), "healthy");
  EXPECT_EQ(s.failing_streak, 0);
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:03Z", 0), cfg), "");  // unchanged
}

TEST(HealthTest, RetriesFailuresMakeUnhealthy) {
  HealthConfig cfg;
  cfg.retries = 2;
  ContainerState s = started(cfg);
  record_probe(s, result_at("2024-01-01T00:00:01Z", 0), cfg);
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:02Z", 1), cfg), "");
  EXPECT_EQ(s.health, "healthy");
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:03Z", -1), cfg), "unhealthy");
  EXPECT_EQ(s.failing_streak, 2);
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:04Z", 0), cfg), "healthy");
}

TEST(HealthTest, FailuresInsideTheStartPeriodDoNotCount) {
  HealthConfig cfg;
  cfg.retries = 1;
  cfg.start_period = Nanos(10 * kSecond);
  ContainerState s = started(cfg);
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:05Z", 1), cfg), "");
  EXPECT_EQ(s.failing_streak, 0);
  EXPECT_EQ(s.health, "starting");
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:11Z", 1), cfg), "unhealthy");
}

TEST(HealthTest, StartPeriodGraceEndsWithTheFirstSuccess) {
  HealthConfig cfg;
  cfg.retries = 1;
  cfg.start_period = Nanos(10 * kSecond);
  ContainerState s = started(cfg);
  record_probe(s, result_at("2024-01-01T00:00:01Z", 0), cfg);
  EXPECT_EQ(record_probe(s, result_at("2024-01-01T00:00:02Z", 1), cfg), "unhealthy");
}

TEST(HealthTest, LogKeepsTheLastFive) {
  HealthConfig cfg;
  ContainerState s = started(cfg);
  for (int i = 1; i <= 7; ++i) record_probe(s, result_at(fmt::format("2024-01-01T00:00:0{}Z", i), 0), cfg);
  ASSERT_EQ(s.health_log.size(), kMaxHealthLog);
  EXPECT_EQ(s.health_log[0]["Start"], "2024-01-01T00:00:03Z");
  EXPECT_EQ(s.health_log[4]["Start"], "2024-01-01T00:00:07Z");
  EXPECT_EQ(s.health_log[4]["ExitCode"], 0);
  EXPECT_EQ(s.health_log[4]["Output"], "ok");
  EXPECT_TRUE(s.health_log[4].contains("End"));
}

TEST(HealthTest, RestartKeepsTheLogButStartsOver) {
  HealthConfig cfg;
  cfg.retries = 1;
  ContainerState s = started(cfg);
  record_probe(s, result_at("2024-01-01T00:00:01Z", 1), cfg);
  reset_health(s);
  EXPECT_EQ(s.health, "starting");
  EXPECT_EQ(s.failing_streak, 0);
  EXPECT_EQ(s.health_log.size(), 1u);
}

TEST(HealthTest, StartIntervalAppliesOnlyWhileStarting) {
  HealthConfig cfg;
  cfg.interval = Nanos(30 * kSecond);
  cfg.start_interval = Nanos(2 * kSecond);
  cfg.start_period = Nanos(60 * kSecond);
  ContainerState s = started(cfg);
  long long t0 = 0;
  ASSERT_TRUE(parse_rfc3339_nano(s.started_at, &t0));
  EXPECT_EQ(next_probe_delay(cfg, s, t0 + kSecond).count(), 2 * kSecond);
  EXPECT_EQ(next_probe_delay(cfg, s, t0 + 61 * kSecond).count(), 30 * kSecond);
  s.health = "healthy";
  EXPECT_EQ(next_probe_delay(cfg, s, t0 + kSecond).count(), 30 * kSecond);
  cfg.start_period = Nanos(0);
  s.health = "starting";
  EXPECT_EQ(next_probe_delay(cfg, s, t0 + kSecond).count(), 30 * kSecond);
}

TEST(HealthTest, OutputIsLimitedTo4096Bytes) {
  LimitedOutput out;
  out.append("abc");
  EXPECT_EQ(out.str(), "abc");
  out.append(std::string(5000, 'x'));
  std::string s = out.str();
  EXPECT_EQ(s.size(), kMaxHealthOutput + 3);
  EXPECT_TRUE(s.ends_with("x..."));
  EXPECT_TRUE(s.starts_with("abcx"));
}

TEST(HealthTest, GoDurations) {
  EXPECT_EQ(go_duration(Nanos(0)), "0s");
  EXPECT_EQ(go_duration(Nanos(30 * kSecond)), "30s");
  EXPECT_EQ(go_duration(Nanos(200'000'000)), "200ms");
  EXPECT_EQ(go_duration(Nanos(1'500'000'000)), "1.5s");
  EXPECT_EQ(go_duration(Nanos(90 * kSecond)), "1m30s");
  EXPECT_EQ(go_duration(Nanos(3600 * kSecond)), "1h0m0s");
  EXPECT_EQ(go_duration(Nanos(1500)), "1.5µs");
}

TEST(HealthTest, MonitorTicksAfterEachDelayUntilDestroyed) {
  std::atomic<int> ticks = 0;
  {
    HealthMonitor m([] { return Nanos(5'000'000); }, [&](std::stop_token) { ++ticks; });
    while (ticks < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int after = ticks;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ticks, after);
}

TEST(HealthTest, MonitorStopsPromptlyDuringALongDelay) {
  auto t0 = std::chrono::steady_clock::now();
  {
    HealthMonitor m([] { return Nanos(60 * kSecond); }, [](std::stop_token) {});
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace berth::engine
