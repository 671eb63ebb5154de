#include "engine/engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "base/clock.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/engine_internal.h"
#include "engine/rootfs_mount.h"

namespace berth::engine {

namespace {

constexpr const char* kSignalNames[] = {
    nullptr, "HUP",  "INT",  "QUIT", "ILL",    "TRAP", "ABRT",   "BUS",  "FPE",  "KILL",   "USR1",
    "SEGV",  "USR2", "PIPE", "ALRM", "TERM",   "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN",
    "TTOU",  "URG",  "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO",   "PWR",  "SYS"};

int64_t monotonic_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int parse_signal(const std::string& raw) {
  std::string s = raw;
  for (auto& ch : s) ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  long long n = 0;
  if (parse_int64(s, &n)) {
    if (n < 1 || n > SIGRTMAX) throw InvalidArgumentError(fmt::format("Invalid signal: {}", raw));
    return static_cast<int>(n);
  }
  for (int i = 1; i < 32; ++i)
    if (s == kSignalNames[i]) return i;
  if (s == "IOT") return SIGABRT;
  if (s == "POLL") return SIGIO;
  if (s.rfind("RTMIN", 0) == 0 || s.rfind("RTMAX", 0) == 0) {
    long long off = 0;
    std::string rest = s.substr(5);
    if (rest.empty() || (rest.size() > 1 && parse_int64(rest, &off))) {
      int sig = s[4] == 'N' ? SIGRTMIN + static_cast<int>(off) : SIGRTMAX + static_cast<int>(off);
      if (sig >= SIGRTMIN && sig <= SIGRTMAX) return sig;
    }
  }
  throw InvalidArgumentError(fmt::format("Invalid signal: {}", raw));
}

int open_pidfd(pid_t pid) {
  if (pid <= 0) return -1;
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

Engine::Engine(EngineOptions opts)
    : opts_(std::move(opts)),
      content_(opts_.data_root),
      snapshots_(opts_.data_root),
      images_(opts_.data_root, content_, snapshots_),
      spec_host_(SpecHost::probe()) {
  mkdir_all(path_join(opts_.data_root, "containers"), 0711);
  mkdir_all(path_join(opts_.exec_root, "containers"), 0711);
  opts_.network.data_root = opts_.data_root;
  opts_.network.exec_root = opts_.exec_root;
  networks_ = std::make_unique<NetworkController>(opts_.network);
  watch_epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!watch_epoll_.valid()) fail_errno("epoll_create1");
  // Wakes the exit watcher at shutdown, so stopping the daemon takes no poll interval.
  watch_wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!watch_wake_.valid()) fail_errno("eventfd");
  struct epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.fd = watch_wake_.get();
  if (::epoll_ctl(watch_epoll_.get(), EPOLL_CTL_ADD, watch_wake_.get(), &wake) != 0) fail_errno("epoll_ctl eventfd");
  exit_notify_.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!exit_notify_.valid()) fail_errno("inotify_init1");
  struct epoll_event notify{};
  notify.events = EPOLLIN;
  notify.data.fd = exit_notify_.get();
  if (::epoll_ctl(watch_epoll_.get(), EPOLL_CTL_ADD, exit_notify_.get(), &notify) != 0) fail_errno("epoll_ctl inotify");

  // Restore: every record on disk, then re-adopt the running ones.
  std::vector<std::shared_ptr<Entry>> entries;
  std::string dir = path_join(opts_.data_root, "containers");
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* de = ::readdir(d)) {
      if (de->d_name[0] == '.') continue;
      std::string text;
      if (!read_file_if_exists(path_join(path_join(dir, de->d_name), "config.v2.json"), &text)) continue;
      try {
        auto e = std::make_shared<Entry>();
        e->c = container_from_json(nlohmann::json::parse(text));
        names_[e->c.name] = e->c.id;
        containers_[e->c.id] = e;
        entries.push_back(e);
      } catch (const std::exception& ex) {
        fprintf(stderr, "berthd: skipping container %s: %s\n", de->d_name, ex.what());
      }
    }
    ::closedir(d);
  }
  watcher_ = std::jthread([this](std::stop_token st) { watcher_loop(st); });
  restarter_ = std::jthread([this](std::stop_token st) {
    std::unique_lock lock(mu_);
    while (!st.stop_requested()) {
      if (restarts_.empty()) {
        changed_.wait_for(lock, st, std::chrono::seconds(1), [&] { return !restarts_.empty(); });
        continue;
      }
      auto it = restarts_.begin();
      int64_t left = it->first - monotonic_nanos();
      if (left > 0) {
        changed_.wait_for(lock, st, std::chrono::nanoseconds(left), [] { return false; });
        continue;
      }
      std::string id = it->second;
      restarts_.erase(it);
      lock.unlock();
      try {
        auto e = lookup(id);
        std::lock_guard op(e->op);
        bool still_restarting;
        {
          std::lock_guard l(mu_);
          still_restarting = e->c.state.status == Status::kRestarting && !e->removed;
        }
        if (still_restarting) start_locked(*e);
      } catch (const std::exception& ex) {
        fprintf(stderr, "berthd: restart %s: %s\n", id.c_str(), ex.what());
      }
      lock.lock();
    }
  });
  // Trash a previous daemon left behind goes first.
  for (const auto& root : {path_join(opts_.data_root, "containers"), path_join(opts_.exec_root, "containers")}) {
    if (DIR* d = ::opendir(root.c_str())) {
      while (struct dirent* de = ::readdir(d))
        if (std::string_view(de->d_name).starts_with(".trash-")) {
          std::string dir = path_join(root, de->d_name);
          trash_.push_back([dir] { remove_all(dir); });
        }
      ::closedir(d);
    }
  }
  janitor_ = std::jthread([this](std::stop_token st) { janitor_loop(st); });
  restore_volumes();  // before adopt(), whose exits release them
  for (auto& e : entries) adopt(e);
  // What dockerd's restore starts again (after a reboot, or a daemon crash
  // that took the shims along), before the API serves anyone.
  for (auto& e : entries) {
    std::lock_guard op(e->op);
    {
      std::lock_guard lock(mu_);
      if (e->removed || !starts_at_boot(e->c)) continue;
      // dockerd's boot start resets the restart manager: a fresh count and
      // back-off, and "always" forgets a manual stop.
      e->c.restart_count = 0;
      e->restart_delay_ms = 0;
    }
    try {
      start_locked(*e);
    } catch (const std::exception& ex) {
      fprintf(stderr, "berthd: start container %s at boot: %s\n", e->c.id.c_str(), ex.what());
    }
  }
}

void Engine::discard_dir(const std::string& dir) {
  auto slash = dir.rfind('/');
  std::string trash = dir.substr(0, slash + 1) + ".trash-" + dir.substr(slash + 1);
  if (::rename(dir.c_str(), trash.c_str()) != 0) {
    if (errno == ENOENT) return;
    remove_all(dir);  // e.g. a stale .trash- of the same name: delete in place
    return;
  }
  std::lock_guard lock(mu_);
  trash_.push_back([trash] { remove_all(trash); });
  changed_.notify_all();
}

void Engine::janitor_loop(std::stop_token stop) {
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    changed_.wait(lock, stop, [&] { return !trash_.empty(); });
    while (!trash_.empty()) {
      auto work = std::move(trash_.front());
      trash_.erase(trash_.begin());
      lock.unlock();
      try {
        work();
      } catch (const std::exception& ex) {
        fprintf(stderr, "berthd: %s\n", ex.what());
      }
      lock.lock();
    }
  }
}

Engine::~Engine() {
  watcher_.request_stop();
  restarter_.request_stop();
  janitor_.request_stop();
  uint64_t one = 1;
  if (::write(watch_wake_.get(), &one, sizeof one) < 0) {
    // the watcher still notices the stop within its poll interval
  }
  // Nothing starts a container after this; then the health monitors go
  // while every member they call back into still exists.
  if (watcher_.joinable()) watcher_.join();
  if (restarter_.joinable()) restarter_.join();
  std::vector<std::unique_ptr<HealthMonitor>> monitors;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : containers_)
      if (e->health) {
        e->health->request_stop();
        monitors.push_back(std::move(e->health));
      }
  }
  monitors.clear();
}

void Engine::adopt(const std::shared_ptr<Entry>& e) {
  Container c;
  {
    std::lock_guard lock(mu_);
    c = e->c;
  }
  if (!c.running() && c.state.status != Status::kRestarting) return;
  if (c.state.status == Status::kRestarting) {
    schedule_restart(c.id, 0);
    return;
  }
  // Still ours only if that pid is a berth-shim for this container.
  std::string cmdline;
  bool alive = read_file_if_exists(fmt::format("/proc/{}/cmdline", c.state.shim_pid), &cmdline) &&
               cmdline.find("berth-shim") != std::string::npos && cmdline.find(c.id) != std::string::npos;
  if (alive) {
    try {
      restore_network(c);
    } catch (const std::exception& ex) {
      fprintf(stderr, "berthd: container %s: restoring its network: %s\n", c.id.c_str(), ex.what());
    }
    {
      std::lock_guard lock(mu_);
      e->init_pidfd.reset(open_pidfd(c.state.pid));
      start_health_locked(*e);  // probing restarts from "starting", as dockerd's restore does
      persist(e->c);
    }
    watch_shim(c.id, c.state.shim_pid);
  } else {
    {
      std::lock_guard lock(mu_);
      e->found_dead_at_boot = true;
    }
    on_shim_exit(c.id);
  }
}

std::shared_ptr<Engine::Entry> Engine::lookup(const std::string& ref) const {
  std::lock_guard lock(mu_);
  if (ref.empty()) throw NotFoundError("No such container: ");
  if (auto it = containers_.find(ref); it != containers_.end()) return it->second;
  std::string name = ref[0] == '/' ? ref : "/" + ref;
  if (auto it = names_.find(name); it != names_.end()) return containers_.at(it->second);
  std::shared_ptr<Entry> found;
  for (auto it = containers_.lower_bound(ref); it != containers_.end() && it->first.rfind(ref, 0) == 0; ++it) {
    if (found) throw InvalidArgumentError(fmt::format("multiple IDs found with provided prefix: {}", ref));
    found = it->second;
  }
  if (!found) throw NotFoundError("No such container: " + ref);
  return found;
}

Container Engine::get(const std::string& ref) const {
  auto e = lookup(ref);
  std::lock_guard lock(mu_);
  return e->c;
}

std::vector<Container> Engine::list() const {
  std::lock_guard lock(mu_);
  std::vector<Container> out;
  for (const auto& [id, e] : containers_) out.push_back(e->c);
  return out;
}

std::string Engine::container_dir(const std::string& id) const {
  return path_join(path_join(opts_.data_root, "containers"), id);
}
std::string Engine::exec_dir(const std::string& id) const {
  return path_join(path_join(opts_.exec_root, "containers"), id);
}
std::string Engine::shim_state_dir(const std::string& id) const { return path_join(exec_dir(id), "shim"); }

const RuntimeSpec& Engine::runtime_for(const Container& c) const {
  auto it = opts_.runtimes.find(c.runtime);
  if (it == opts_.runtimes.end()) throw InvalidArgumentError(fmt::format("unknown runtime: {}", c.runtime));
  return it->second;
}

std::string Engine::runtime_root(const std::string& runtime) const {
  return path_join(path_join(opts_.exec_root, "runtime"), runtime);
}

std::vector<std::string> Engine::runtime_argv(const Container& c, std::vector<std::string> verb) const {
  const RuntimeSpec& rt = runtime_for(c);
  std::vector<std::string> argv{rt.path, "--root", runtime_root(c.runtime)};
  argv.insert(argv.end(), rt.args.begin(), rt.args.end());
  argv.insert(argv.end(), verb.begin(), verb.end());
  return argv;
}

void Engine::persist(const Container& c) const {
  write_file_atomic(path_join(container_dir(c.id), "config.v2.json"), to_json(c).dump(), 0600);
}

void Engine::publish(const Container& c, const std::string& action, std::map<std::string, std::string> extra) {
  Event ev;
  ev.type = "container";
  ev.action = action;
  ev.id = c.id;
  ev.attributes = std::move(extra);
  ev.attributes["image"] = c.image_ref;
  ev.attributes["name"] = c.name.substr(1);
  if (c.config.contains("Labels") && c.config["Labels"].is_object())
    for (const auto& [k, v] : c.config["Labels"].items())
      if (v.is_string() && !ev.attributes.count(k)) ev.attributes[k] = v.get<std::string>();
  events_.publish(std::move(ev));
}

void Engine::watch_shim(const std::string& id, pid_t shim_pid) {
  // The exit is known as soon as the shim renames exit.json into place; the
  // shim's own exit (after the runtime's delete) is the fallback for a shim
  // that died without recording one.
  std::string state = shim_state_dir(id);
  int wd = ::inotify_add_watch(exit_notify_.get(), state.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR);
  int fd = open_pidfd(shim_pid);
  {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it != containers_.end()) {
      if (wd >= 0) {
        exit_watches_[wd] = id;
        it->second->exit_watch = wd;
      }
      if (fd >= 0) it->second->shim_pidfd.reset(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    }
    if (fd >= 0) watched_[fd] = id;
  }
  if (fd >= 0) {
    struct epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(watch_epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) fail_errno("epoll_ctl pidfd");
  }
  // Either may have happened before the watches existed. The watcher thread
  // handles it: our caller may hold the container's op lock, which exit
  // handling (auto-remove, restart) takes.
  if (fd < 0 || path_exists(path_join(state, "exit.json"))) {
    {
      std::lock_guard lock(mu_);
      pending_exits_.push_back(id);
    }
    uint64_t one = 1;
    if (::write(watch_wake_.get(), &one, sizeof one) < 0) fail_errno("wake the exit watcher");
  }
}

void Engine::on_exit_notifications() {
  alignas(struct inotify_event) char buf[16 * 1024];
  std::vector<std::string> exited;
  for (;;) {
    ssize_t n = ::read(exit_notify_.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      if (ev->len == 0 || std::string_view(ev->name) != "exit.json") continue;
      std::lock_guard lock(mu_);
      auto it = exit_watches_.find(ev->wd);
      if (it != exit_watches_.end()) exited.push_back(it->second);
    }
  }
  for (const auto& id : exited) {
    try {
      on_shim_exit(id);
    } catch (const std::exception& ex) {
      fprintf(stderr, "berthd: container %s exit: %s\n", id.c_str(), ex.what());
    }
  }
}

void Engine::watcher_loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    struct epoll_event evs[16];
    int n = ::epoll_wait(watch_epoll_.get(), evs, 16, 1000);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == watch_wake_.get()) {
        uint64_t count;
        if (::read(fd, &count, sizeof count) < 0) {
          // nothing to drain
        }
        std::vector<std::string> ids;
        {
          std::lock_guard lock(mu_);
          ids.swap(pending_exits_);
        }
        for (const auto& id : ids) {
          try {
            on_shim_exit(id);
          } catch (const std::exception& ex) {
            fprintf(stderr, "berthd: container %s exit: %s\n", id.c_str(), ex.what());
          }
        }
        continue;
      }
      if (fd == exit_notify_.get()) {
        on_exit_notifications();
        continue;
      }
      std::string id;
      {
        std::lock_guard lock(mu_);
        auto it = watched_.find(fd);
        if (it == watched_.end()) continue;
        id = it->second;
        watched_.erase(it);
        // The shim is gone: nothing waits on it any more.
        for (auto w = exit_watches_.begin(); w != exit_watches_.end();) {
          if (w->second != id) {
            ++w;
            continue;
          }
          ::inotify_rm_watch(exit_notify_.get(), w->first);
          w = exit_watches_.erase(w);
        }
        if (auto c = containers_.find(id); c != containers_.end()) {
          c->second->shim_pidfd.reset();
          c->second->exit_watch = -1;
        }
      }
      ::epoll_ctl(watch_epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      ::close(fd);
      try {
        on_shim_exit(id);
      } catch (const std::exception& ex) {
        fprintf(stderr, "berthd: container %s exit: %s\n", id.c_str(), ex.what());
      }
      changed_.notify_all();
    }
  }
}

void Engine::wait_shim_gone(Entry& e) {
  UniqueFd fd;
  {
    std::lock_guard lock(mu_);
    if (e.shim_pidfd.valid()) fd.reset(::fcntl(e.shim_pidfd.get(), F_DUPFD_CLOEXEC, 3));
  }
  if (!fd.valid()) return;
  struct pollfd p{fd.get(), POLLIN, 0};
  while (::poll(&p, 1, 30000) < 0 && errno == EINTR) {
  }
}

void Engine::on_shim_exit(const std::string& id) {
  std::shared_ptr<Entry> e;
  std::unique_ptr<HealthMonitor> monitor;
  {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return;
    e = it->second;
    if (!e->c.running()) {
      e->found_dead_at_boot = false;
      return;
    }
    monitor = std::move(e->health);
    if (monitor) monitor->request_stop();
  }
  monitor.reset();  // joins any probe in flight, outside mu_ (the probe records under it)
  int code = 255;
  bool oom_killed = false;
  std::string finished = now_rfc3339_nano();
  std::string text;
  if (read_file_if_exists(path_join(shim_state_dir(id), "exit.json"), &text)) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object()) {
      code = j.value("exit_code", 255);
      finished = j.value("exited_at", finished);
      oom_killed = j.value("oom_killed", false);
    }
  }
  try {
    unmount_rootfs(rootfs_paths(container_dir(id)));
  } catch (const Error& ex) {
    fprintf(stderr, "berthd: %s\n", ex.what());
  }
  detach_network(*e);
  unmount_volumes(*e);

  Container c;
  bool restart = false, auto_remove = false;
  {
    std::lock_guard lock(mu_);
    ContainerState& s = e->c.state;
    s.status = Status::kExited;
    s.pid = 0;
    s.shim_pid = 0;
    s.exit_code = code;
    s.oom_killed = oom_killed;
    s.finished_at = finished;
    if (!s.health.empty()) s.health = "unhealthy";  // dockerd's word for a stopped monitor
    e->init_pidfd.reset();
    ++e->exits;
    const auto& hc = e->c.host_config;
    auto policy = hc.value("RestartPolicy", nlohmann::json::object());
    std::string name = policy.value("Name", "");
    int max_retries = policy.value("MaximumRetryCount", 0);
    if (!e->c.manually_stopped && !e->removed && !e->found_dead_at_boot) {
      if (name == "always" || name == "unless-stopped") restart = true;
      if (name == "on-failure" && code != 0 && (max_retries == 0 || e->c.restart_count < max_retries)) restart = true;
    }
    auto_remove = !restart && hc.value("AutoRemove", false);
    if (restart) {
      // Docker's back-off: 100 ms doubling per consecutive restart, at most a
      // minute; a run of 10 s or more resets it.
      long long started = 0, ended = 0;
      bool long_run = parse_rfc3339_nano(s.started_at, &started) && parse_rfc3339_nano(finished, &ended) &&
                      ended - started >= 10'000'000'000LL;
      e->restart_delay_ms = (long_run || e->restart_delay_ms == 0) ? 100 : std::min(e->restart_delay_ms * 2, 60000);
      s.status = Status::kRestarting;
      ++e->c.restart_count;
    }
    e->found_dead_at_boot = false;
    persist(e->c);
    c = e->c;
  }
  // dockerd emits "oom" when the kernel reports it, which is before the exit.
  if (oom_killed) publish(c, "oom");
  publish(c, "die", {{"exitCode", std::to_string(code)}});
  changed_.notify_all();
  if (restart) {
    schedule_restart(id, e->restart_delay_ms);
  } else if (auto_remove) {
    std::lock_guard op(e->op);
    remove_locked(e, true);  // --rm takes the anonymous volumes along
  }
}

void Engine::schedule_restart(const std::string& id, int delay_ms) {
  std::lock_guard lock(mu_);
  restarts_.emplace(monotonic_nanos() + int64_t{delay_ms} * 1000000, id);
  changed_.notify_all();
}

}  // namespace berth::engine
