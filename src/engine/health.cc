#include "engine/health.h"

#include "base/clock.h"
#include "engine/errors.h"

namespace berth::engine {

namespace {

std::vector<std::string> strings_of(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// A zero (or absent) duration means "docker's default".
Nanos duration_or(const nlohmann::json& hc, const char* key, Nanos fallback) {
  if (!hc.contains(key) || !hc[key].is_number()) return fallback;
  int64_t v = hc[key].get<int64_t>();
  return v > 0 ? Nanos(v) : fallback;
}

int64_t parse_time(const std::string& s) {
  long long n = 0;
  return parse_rfc3339_nano(s, &n) ? n : 0;
}

// Go's strconv for a fraction: digits without trailing zeros.
std::string with_fraction(int64_t whole, int64_t frac, int digits) {
  std::string out = std::to_string(whole);
  if (frac == 0) return out;
  std::string f = std::to_string(frac);
  f.insert(0, static_cast<size_t>(digits) - f.size(), '0');
  while (!f.empty() && f.back() == '0') f.pop_back();
  return out + "." + f;
}

}  // namespace

std::optional<HealthConfig> health_config(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains("Healthcheck") || !config["Healthcheck"].is_object()) return std::nullopt;
  const nlohmann::json& hc = config["Healthcheck"];
  std::vector<std::string> test = strings_of(hc.value("Test", nlohmann::json()));
  if (test.empty() || test[0] == "NONE") return std::nullopt;
  HealthConfig out;
  if (test[0] == "CMD") {
    out.argv.assign(test.begin() + 1, test.end());
  } else if (test[0] == "CMD-SHELL") {
    out.argv = strings_of(config.value("Shell", nlohmann::json()));
    if (out.argv.empty()) out.argv = {"/bin/sh", "-c"};
    out.argv.insert(out.argv.end(), test.begin() + 1, test.end());
  } else {
    throw InvalidArgumentError("unknown healthcheck type '" + test[0] + "' (expected 'CMD' or 'CMD-SHELL')");
  }
  if (out.argv.empty()) return std::nullopt;
  out.interval = duration_or(hc, "Interval", out.interval);
  out.timeout = duration_or(hc, "Timeout", out.timeout);
  out.start_period = duration_or(hc, "StartPeriod", out.start_period);
  out.start_interval = duration_or(hc, "StartInterval", out.interval);
  if (hc.contains("Retries") && hc["Retries"].is_number() && hc["Retries"].get<int>() > 0)
    out.retries = hc["Retries"].get<int>();
  return out;
}

nlohmann::json to_json(const ProbeResult& r) {
  return {{"Start", r.start}, {"End", r.end}, {"ExitCode", r.exit_code}, {"Output", r.output}};
}

void reset_health(ContainerState& s) {
  s.health = "starting";
  s.failing_streak = 0;
  if (!s.health_log.is_array()) s.health_log = nlohmann::json::array();
}

std::string record_probe(ContainerState& s, const ProbeResult& r, const HealthConfig& cfg) {
  std::string old = s.health;
  if (!s.health_log.is_array()) s.health_log = nlohmann::json::array();
  s.health_log.push_back(to_json(r));
  while (s.health_log.size() > kMaxHealthLog) s.health_log.erase(s.health_log.begin());
  if (r.exit_code == 0) {
    s.failing_streak = 0;
    s.health = "healthy";
  } else {
    // Before the first success, failures inside the start period are the
    // application still starting up: they do not count.
    bool counts = !(s.health == "starting" &&
                    parse_time(r.start) - parse_time(s.started_at) < cfg.start_period.count());
    if (counts) {
      ++s.failing_streak;
      if (s.failing_streak >= cfg.retries) s.health = "unhealthy";
    }
  }
  return s.health != old ? s.health : std::string();
}

Nanos next_probe_delay(const HealthConfig& cfg, const ContainerState& s, int64_t now_nanos) {
  bool in_start_period = cfg.start_period.count() > 0 &&
                         now_nanos - parse_time(s.started_at) < cfg.start_period.count();
  return s.health == "starting" && in_start_period ? cfg.start_interval : cfg.interval;
}

void LimitedOutput::append(std::string_view data) {
  size_t room = kMaxHealthOutput - buf_.size();
  buf_.append(data.substr(0, room));
  if (data.size() > room) truncated_ = true;
}

std::string go_duration(Nanos d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  std::string sign = n < 0 ? "-" : "";
  uint64_t u = n < 0 ? static_cast<uint64_t>(-n) : static_cast<uint64_t>(n);
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + with_fraction(u / 1000, u % 1000, 3) + "µs";
  if (u < 1000000000) return sign + with_fraction(u / 1000000, u % 1000000, 6) + "ms";
  uint64_t secs = u / 1000000000, frac = u % 1000000000;
  std::string out = with_fraction(static_cast<int64_t>(secs % 60), static_cast<int64_t>(frac), 9) + "s";
  uint64_t mins = secs / 60;
  if (mins > 0) {
    out = std::to_string(mins % 60) + "m" + out;
    if (mins >= 60) out = std::to_string(mins / 60) + "h" + out;
  }
  return sign + out;
}

HealthMonitor::HealthMonitor(std::function<Nanos()> delay, std::function<void(std::stop_token)> tick)
    : thread_([this, delay = std::move(delay), tick = std::move(tick)](std::stop_token stop) {
        while (!stop.stop_requested()) {
          Nanos wait = delay();  // outside mu_: it may take the engine's lock
          {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, stop, wait, [] { return false; });
          }
          if (stop.stop_requested()) return;
          tick(stop);
        }
      }) {}

HealthMonitor::~HealthMonitor() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace berth::engine
