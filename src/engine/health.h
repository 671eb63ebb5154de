// Healthchecks as dockerd runs them: a container's Config.Healthcheck probed
// by a HealthMonitor thread while it runs, each probe an exec in the
// container, the results folded into State.Health.
//
// Contract (docker's semantics):
// - health_config(): absent, empty or ["NONE"] Test means no healthcheck;
//   ["CMD", args...] runs args, ["CMD-SHELL", cmd] runs Config.Shell (else
//   /bin/sh -c) with cmd. Zero durations take docker's defaults: interval
//   30s, timeout 30s, start period 0, start interval = interval (what
//   dockerd's monitor falls back to); retries 3.
// - record_probe(): appends to the log (last 5 kept); exit 0 -> healthy and
//   the streak resets; a failure while "starting" inside the start period
//   counts for nothing, otherwise the streak grows and reaching retries
//   makes the container unhealthy.
// - HealthMonitor: calls tick() after each delay() until destroyed; its
//   destructor stops and joins the thread (never destroy it from tick()).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/container.h"

namespace berth::engine {

using Nanos = std::chrono::nanoseconds;

constexpr size_t kMaxHealthOutput = 4096;  // bytes of probe output kept
constexpr size_t kMaxHealthLog = 5;        // probe results kept in State.Health.Log

struct HealthConfig {
  std::vector<std::string> argv;  // what the probe execs
  Nanos interval{30'000'000'000};
  Nanos timeout{30'000'000'000};
  Nanos start_period{0};
  Nanos start_interval{30'000'000'000};
  int retries = 3;
};

// config: the container's merged Config. Throws InvalidArgumentError on an
// unknown Test kind.
std::optional<HealthConfig> health_config(const nlohmann::json& config);

struct ProbeResult {
  std::string start, end;  // RFC 3339 nano
  int exit_code = 0;
  std::string output;
};
nlohmann::json to_json(const ProbeResult& r);  // {"Start", "End", "ExitCode", "Output"}

// Marks a (re)started container "starting" with no failures, keeping the log.
void reset_health(ContainerState& s);
// Folds one result into s; returns the new status when it changed, else "".
std::string record_probe(ContainerState& s, const ProbeResult& r, const HealthConfig& cfg);
// How long to wait before the next probe: the start interval while still
// starting inside the start period, else the interval.
Nanos next_probe_delay(const HealthConfig& cfg, const ContainerState& s, int64_t now_nanos);

// Probe output as docker keeps it: the first kMaxHealthOutput bytes, "..."
// appended when more was written.
class LimitedOutput {
 public:
  void append(std::string_view data);
  std::string str() const { return truncated_ ? buf_ + "..." : buf_; }

 private:
  std::string buf_;
  bool truncated_ = false;
};

// Go's time.Duration formatting ("30s", "200ms", "1m30s"), for the timeout message.
std::string go_duration(Nanos d);

class HealthMonitor {
 public:
  HealthMonitor(std::function<Nanos()> delay, std::function<void(std::stop_token)> tick);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Asks the thread to stop without waiting for it (safe under any lock).
  void request_stop() { thread_.request_stop(); }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::jthread thread_;  // last: it uses the members above
};

}  // namespace berth::engine
