// Engine: healthchecks — one HealthMonitor per running container whose
// Config has a healthcheck, each probe an exec like `docker exec` with its
// output captured, the result folded into the persisted State.Health.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>

#include "base/clock.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"

namespace berth::engine {

namespace {

int64_t wall_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Reads the probe's stdout and stderr into out until both close. False when
// the deadline passed or stop was requested first.
bool drain(const ExecIo& io, std::chrono::steady_clock::time_point deadline, std::stop_token stop,
           LimitedOutput* out) {
  struct pollfd fds[2] = {{io.stdout_r.get(), POLLIN, 0}, {io.stderr_r.get(), POLLIN, 0}};
  int open = (fds[0].fd >= 0) + (fds[1].fd >= 0);
  char buf[4096];
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || stop.stop_requested()) return false;
    // Short slices so a stop (the container exited) is noticed promptly.
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (n < 0 && errno != EINTR) return false;
    for (auto& p : fds) {
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = ::read(p.fd, buf, sizeof buf);
      if (r > 0) {
        out->append(std::string_view(buf, static_cast<size_t>(r)));
      } else if (r == 0 || errno != EINTR) {
        p.fd = -1;  // poll ignores negative fds
        --open;
      }
    }
  }
  return true;
}

// Kills the runtime's exec process and what it started in the container
// (its children: SIGKILL cannot be forwarded into the container).
void kill_exec(pid_t pid) {
  if (pid <= 0) return;
  std::string children;
  if (read_file_if_exists(fmt::format("/proc/{}/task/{}/children", pid, pid), &children))
    for (const auto& c : split(children, ' ')) {
      long long child = 0;
      if (parse_int64(trim(c), &child) && child > 0) ::kill(static_cast<pid_t>(child), SIGKILL);
    }
  ::kill(pid, SIGKILL);
}

}  // namespace

void Engine::start_health_locked(Entry& e) {
  std::optional<HealthConfig> cfg;
  try {
    cfg = health_config(e.c.config);
  } catch (const Error& ex) {
    fprintf(stderr, "berthd: container %s: %s\n", e.c.id.c_str(), ex.what());
  }
  if (!cfg) {
    e.c.state.health.clear();
    return;
  }
  reset_health(e.c.state);
  Entry* entry = &e;  // the monitor dies before its Entry: on exit, removal or ~Engine
  e.health = std::make_unique<HealthMonitor>(
      [this, entry, cfg = *cfg] {
        std::lock_guard lock(mu_);
        return next_probe_delay(cfg, entry->c.state, wall_nanos());
      },
      [this, entry, cfg = *cfg](std::stop_token stop) { run_health_probe(*entry, cfg, stop); });
}

void Engine::run_health_probe(Entry& e, const HealthConfig& cfg, std::stop_token stop) {
  std::string id;
  {
    std::lock_guard lock(mu_);
    id = e.c.id;
  }
  ProbeResult r;
  r.start = now_rfc3339_nano();
  std::string exec_id;
  try {
    exec_id = exec_create(id, {{"Cmd", cfg.argv}, {"AttachStdout", true}, {"AttachStderr", true}});
    ExecIo io = exec_start(exec_id);
    LimitedOutput out;
    bool finished = drain(io, std::chrono::steady_clock::now() + cfg.timeout, stop, &out);
    if (!finished) kill_exec(exec_get(exec_id).pid);
    io = {};
    int code = exec_wait(exec_id);
    r.exit_code = finished ? code : -1;
    r.output = out.str();
    if (!finished)
      r.output = r.output.empty() ? fmt::format("Health check exceeded timeout ({})", go_duration(cfg.timeout))
                                  : fmt::format("Health check exceeded timeout ({}): {}", go_duration(cfg.timeout), r.output);
  } catch (const std::exception& ex) {
    r.exit_code = -1;
    r.output = ex.what();
  }
  r.end = now_rfc3339_nano();
  Container c;
  std::string changed;
  {
    std::lock_guard lock(mu_);
    // Probes are not exec sessions anyone can inspect later, as in dockerd.
    if (!exec_id.empty()) execs_.erase(exec_id);
    // A result that arrives after the container stopped says nothing.
    if (stop.stop_requested() || e.removed || !e.c.running()) return;
    changed = record_probe(e.c.state, r, cfg);
    persist(e.c);
    c = e.c;
  }
  if (!changed.empty()) publish(c, "health_status: " + changed);
  changed_.notify_all();
}

}  // namespace berth::engine
