// Engine: creating, starting, stopping and removing containers.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

#include "base/clock.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/names.h"
#include "engine/oci_spec_builder.h"
#include "engine/resolv_conf.h"
#include "engine/rootfs_mount.h"
#include "engine/shim_launcher.h"

namespace berth::engine {

namespace {

constexpr const char* kHostsFile =
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n";

std::vector<std::string> string_list(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// Docker's "max-size" values: "10m", "1g", "512k", plain bytes.
uint64_t parse_log_size(const std::string& s) {
  if (s.empty()) return 0;
  unsigned long long n = 0;
  std::string digits = s;
  uint64_t mult = 1;
  char last = static_cast<char>(tolower(static_cast<unsigned char>(s.back())));
  if (last == 'k' || last == 'm' || last == 'g') {
    mult = last == 'k' ? 1000 : last == 'm' ? 1000 * 1000 : 1000ull * 1000 * 1000;
    digits.pop_back();
  }
  if (!parse_uint64(digits, &n)) throw InvalidArgumentError(fmt::format("invalid log max-size: {}", s));
  return n * mult;
}

}  // namespace

void Engine::write_etc_files(Container& c) {
  std::string dir = container_dir(c.id);
  bool host_net = c.host_config.value("NetworkMode", "") == "host";
  c.hostname_path = path_join(dir, "hostname");
  c.hosts_path = path_join(dir, "hosts");
  c.resolv_conf_path = path_join(dir, "resolv.conf");
  std::string hostname = c.config.value("Hostname", c.short_id());
  std::string domain = c.config.value("Domainname", "");
  write_file_replace(c.hostname_path, hostname + "\n", 0644);
  // The first network's address names the container, as in docker's hosts file.
  std::string ip;
  bool embedded_dns = false;
  for (const auto& [name, ep] : c.networks.items()) {
    if (ip.empty()) ip = ep.value("IPAddress", "");
    if (name != "bridge" && name != "host" && name != "none") embedded_dns = true;
  }
  std::string mode = c.host_config.value("NetworkMode", "default");
  std::string primary = mode == "default" ? "bridge" : mode;
  if (c.networks.contains(primary) && !c.networks[primary].value("IPAddress", "").empty())
    ip = c.networks[primary].value("IPAddress", "");
  std::string hosts;
  if (!host_net || !read_file_if_exists("/etc/hosts", &hosts)) {
    hosts = kHostsFile;
    std::string names = domain.empty() ? hostname : hostname + "." + domain + "\t" + hostname;
    if (!ip.empty()) hosts += fmt::format("{}\t{}\n", ip, names);
  }
  for (const auto& extra : string_list(c.host_config.value("ExtraHosts", nlohmann::json()))) {
    auto colon = extra.find(':');
    if (colon == std::string::npos) continue;
    std::string addr = extra.substr(colon + 1);
    if (addr == "host-gateway") addr = networks_->default_gateway();
    if (!addr.empty()) hosts += addr + "\t" + extra.substr(0, colon) + "\n";
  }
  write_file_replace(c.hosts_path, hosts, 0644);
  std::string host_resolv;
  if (!read_file_if_exists("/etc/resolv.conf", &host_resolv)) host_resolv.clear();
  write_file_replace(c.resolv_conf_path,
                     container_resolv_conf(c.host_config, host_resolv, opts_.network.dns, embedded_dns && !host_net,
                                           host_net),
                     0644);
}

Engine::Created Engine::create(const std::string& requested_name, const nlohmann::json& config_in,
                               const nlohmann::json& host_config_in, const nlohmann::json& networking_config) {
  if (!config_in.is_object()) throw InvalidArgumentError("Config cannot be empty in order to create a container");
  nlohmann::json host_config = host_config_in.is_object() ? host_config_in : nlohmann::json::object();
  std::string image_ref = config_in.value("Image", "");
  if (image_ref.empty()) throw InvalidArgumentError("No image specified");
  auto img = images_.find(image_ref);
  if (!img) throw NotFoundError("No such image: " + image_ref);
  nlohmann::json image_config = images_.config(img->id).value("config", nlohmann::json::object());

  Created out;
  Container c;
  c.id = random_id();
  c.created = now_rfc3339_nano();
  c.image_ref = image_ref;
  c.image_id = img->id.str();
  c.config = merge_image_config(image_config, config_in);
  c.config["Image"] = image_ref;
  if (c.config.value("Hostname", "").empty()) {
    char host[256] = "";
    bool host_net = host_config.value("NetworkMode", "") == "host";
    c.config["Hostname"] = host_net && ::gethostname(host, sizeof host - 1) == 0 ? std::string(host) : c.short_id();
  }
  std::vector<std::string> argv = string_list(c.config.value("Entrypoint", nlohmann::json()));
  for (auto& a : string_list(c.config.value("Cmd", nlohmann::json()))) argv.push_back(a);
  if (argv.empty()) throw InvalidArgumentError("no command specified");
  c.path = argv[0];
  c.args.assign(argv.begin() + 1, argv.end());

  c.runtime = host_config.value("Runtime", "");
  if (c.runtime.empty()) c.runtime = opts_.default_runtime;
  if (!opts_.runtimes.count(c.runtime)) throw InvalidArgumentError("unknown or invalid runtime name: " + c.runtime);
  host_config["Runtime"] = c.runtime;
  if (host_config.value("NetworkMode", "").empty()) host_config["NetworkMode"] = "default";
  auto policy = host_config.value("RestartPolicy", nlohmann::json::object());
  std::string pname = policy.value("Name", "");
  if (pname != "" && pname != "no" && pname != "always" && pname != "on-failure" && pname != "unless-stopped")
    throw InvalidArgumentError(fmt::format("invalid restart policy '{}'", pname));
  if (pname != "on-failure" && policy.value("MaximumRetryCount", 0) != 0)
    throw InvalidArgumentError(fmt::format("invalid restart policy: maximum retry count can only be used with 'on-failure'"));
  if (host_config.value("AutoRemove", false) && pname != "" && pname != "no")
    throw InvalidArgumentError("can't create 'AutoRemove' container with restart policy");
  auto log_config = host_config.value("LogConfig", nlohmann::json::object());
  std::string log_type = log_config.value("Type", "");
  if (log_type.empty()) log_type = "json-file";
  if (log_type != "json-file" && log_type != "none")
    throw InvalidArgumentError(fmt::format("logger: no log driver named '{}' is registered", log_type));
  host_config["LogConfig"] = {{"Type", log_type}, {"Config", log_config.value("Config", nlohmann::json::object())}};
  c.host_config = host_config;
  configure_networks(c, networking_config);
  if (host_config.value("NetworkMode", "") == "host" && host_config.contains("PortBindings") &&
      host_config["PortBindings"].is_object() && !host_config["PortBindings"].empty())
    out.warnings.push_back("Published ports are discarded when using host network mode");
  std::string dir = container_dir(c.id);
  c.log_path = log_type == "json-file" ? path_join(dir, c.id + "-json.log") : "";
  std::vector<MountPoint> planned_mounts = plan_volumes(c);  // bad specs fail before anything exists
  std::lock_guard lock(mu_);
  std::string name;
  if (!requested_name.empty()) {
    name = requested_name[0] == '/' ? requested_name.substr(1) : requested_name;
    try {
      validate_container_name(name);
    } catch (const Error& ex) {
      throw InvalidArgumentError(ex.what());
    }
    if (auto it = names_.find("/" + name); it != names_.end())
      throw ConflictError(fmt::format(
          "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or "
          "rename) that container to be able to reuse that name.",
          name, it->second));
  } else {
    for (int attempt = 0;; ++attempt) {
      name = random_container_name(attempt);
      if (!names_.count("/" + name)) break;
    }
  }
  c.name = "/" + name;
  create_volumes(c, std::move(planned_mounts));
  mkdir_all(dir, 0710);
  write_etc_files(c);
  persist(c);
  auto e = std::make_shared<Entry>();
  e->c = c;
  containers_[c.id] = e;
  names_[c.name] = c.id;
  out.id = c.id;
  publish(c, "create");
  return out;
}

void Engine::start(const std::string& ref) {
  auto e = lookup(ref);
  std::lock_guard op(e->op);
  {
    std::lock_guard lock(mu_);
    if (e->removed) throw NotFoundError("No such container: " + ref);
    if (e->c.state.status == Status::kPaused)
      throw ConflictError("cannot start a paused container, try unpause instead");
    if (e->c.running()) throw NotModifiedError("container already started");
    if (e->c.state.status == Status::kRemoving) throw ConflictError("container is marked for removal and cannot be started");
  }
  try {
    start_locked(*e);
  } catch (const Error&) {
    // docker run --rm waits for the removal even when the start failed.
    if (get(e->c.id).host_config.value("AutoRemove", false)) {
      try {
        remove_locked(e, true);
      } catch (const Error&) {
      }
    }
    throw;
  }
}

void Engine::start_locked(Entry& e) {
  wait_shim_gone(e);
  Container c;
  {
    std::lock_guard lock(mu_);
    c = e.c;
  }
  auto record_failure = [&](const std::string& msg) {
    std::lock_guard lock(mu_);
    e.c.state.error = msg;
    e.c.state.status = Status::kExited;
    // What docker reports for a process that could not be started.
    e.c.state.exit_code = msg.find("executable file not found") != std::string::npos ||
                                  msg.find("no such file or directory") != std::string::npos
                              ? 127
                          : msg.find("permission denied") != std::string::npos ? 126
                                                                                  : 128;
    e.c.state.finished_at = now_rfc3339_nano();
    ++e.exits;
    // Attach sessions waiting for this start end instead of waiting forever.
    for (auto& p : e.pending_attaches) {
      p->error = msg;
      p->done = true;
    }
    e.pending_attaches.clear();
    persist(e.c);
    changed_.notify_all();
  };
  RootfsPaths rp = rootfs_paths(container_dir(c.id));
  ShimConfig sc;
  std::optional<ShimHandle> shim;
  try {
    image::ImageRecord img = images_.get(image::Digest::parse(c.image_id));
    std::string netns = attach_network(e, c);
    write_etc_files(c);
    mount_rootfs(rp, snapshots_.lowerdir_string(img.chain_ids()));
    SpecInputs in;
    in.netns_path = netns;
    in.id = c.id;
    in.config = c.config;
    in.host_config = mount_volumes(e, rp.merged);  // c.host_config with the volumes as binds
    in.rootfs = rp.merged;
    in.hosts_path = c.hosts_path;
    in.hostname_path = c.hostname_path;
    in.resolv_conf_path = c.resolv_conf_path;
    in.init_path = opts_.init_path;
    nlohmann::json spec = build_oci_spec(in, spec_host_);
    std::string bundle = exec_dir(c.id);
    mkdir_all(bundle, 0700);
    write_file_replace(path_join(bundle, "config.json"), spec.dump(), 0600);
    std::string state = shim_state_dir(c.id);
    remove_all(state);
    mkdir_all(state, 0700);

    const RuntimeSpec& rt = runtime_for(c);
    // A runtime record whose shim died without its cleanup (a crash, kill -9)
    // would make `create` fail with "already exists"; its processes, if any
    // survive, belong to a container we have recorded as exited.
    if (path_exists(path_join(runtime_root(c.runtime), c.id)))
      run_process(runtime_argv(c, {"delete", "--force", c.id}));
    // The shim counts OOM kills in the container's memory cgroup (shim.h);
    // mapping cgroupsPath onto this host is ours, as for stats().
    try {
      auto paths = open_container_cgroup(spec, c.id, rt)->paths();
      auto it = paths.count("memory") ? paths.find("memory") : paths.find("");
      if (it != paths.end() && !it->second.empty())
        write_file_replace(path_join(state, "memory-cgroup"), it->second + "\n", 0600);
    } catch (const Error& ex) {
      // Not worth failing the start for: State.OOMKilled just stays false.
      fprintf(stderr, "berthd: container %s: OOM kills will not be detected: %s\n", c.id.c_str(), ex.what());
    }
    sc.shim_path = opts_.shim_path;
    sc.id = c.id;
    sc.bundle = bundle;
    sc.runtime_path = rt.path;
    sc.runtime_args = rt.args;
    sc.runtime_root = runtime_root(c.runtime);
    sc.state_dir = state;
    sc.log_path = c.log_path;
    auto lc = c.host_config.value("LogConfig", nlohmann::json::object()).value("Config", nlohmann::json::object());
    sc.log_max_size = parse_log_size(lc.value("max-size", ""));
    long long files = 1;
    if (lc.contains("max-file") && !parse_int64(lc.value("max-file", "1"), &files))
      throw InvalidArgumentError("invalid log max-file");
    sc.log_max_file = static_cast<int>(std::max(1LL, files));
    sc.terminal = c.config.value("Tty", false);
    sc.stdin = c.config.value("OpenStdin", false);
    sc.stdin_once = c.config.value("StdinOnce", false);
    shim.emplace(ShimHandle::launch(sc));
  } catch (const Error& ex) {
    try {
      unmount_rootfs(rp);
    } catch (const Error&) {
    }
    detach_network(e);
    unmount_volumes(e);
    record_failure(ex.what());
    throw;
  }

  // Attach clients waiting for this start join before the container runs.
  {
    std::lock_guard lock(mu_);
    for (auto& p : e.pending_attaches) {
      try {
        p->fd = connect_shim_socket(sc.state_dir, "attach.sock");
      } catch (const Error& ex) {
        p->error = ex.what();
      }
      p->done = true;
    }
    e.pending_attaches.clear();
  }
  changed_.notify_all();
  try {
    shim->start();
  } catch (const Error& ex) {
    try {
      unmount_rootfs(rp);
    } catch (const Error&) {
    }
    detach_network(e);
    unmount_volumes(e);
    record_failure(ex.what());
    throw;
  }
  {
    std::lock_guard lock(mu_);
    ContainerState& s = e.c.state;
    s.status = Status::kRunning;
    s.pid = shim->init_pid();
    s.shim_pid = shim->shim_pid();
    s.exit_code = 0;
    s.error.clear();
    s.oom_killed = false;  // as dockerd's SetRunning: it describes the last exit
    s.started_at = now_rfc3339_nano();
    s.finished_at = "0001-01-01T00:00:00Z";
    e.c.has_been_started = true;
    e.c.manually_stopped = false;
    start_health_locked(e);
    e.init_pidfd.reset(open_pidfd(s.pid));
    persist(e.c);
    c = e.c;
  }
  publish(c, "start");
  changed_.notify_all();
  watch_shim(c.id, c.state.shim_pid);
}

void Engine::signal_locked(Entry& e, int sig) {
  int fd;
  Container c;
  {
    std::lock_guard lock(mu_);
    fd = e.init_pidfd.get();
    c = e.c;
  }
  if (fd < 0) return;
  if (::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) != 0 && errno != ESRCH)
    fail_errno("signal container {}", e.c.id);
  publish(c, "kill", {{"signal", std::to_string(sig)}});
}

void Engine::stop(const std::string& ref, int timeout, const std::string& signal) {
  auto e = lookup(ref);
  std::lock_guard op(e->op);
  int sig = SIGTERM;
  bool paused = false;
  {
    std::lock_guard lock(mu_);
    if (e->c.state.status == Status::kRestarting) {
      // Stopping a container between restarts cancels the restart.
      e->c.manually_stopped = true;
      e->c.state.status = Status::kExited;
      std::erase_if(restarts_, [&](const auto& kv) { return kv.second == e->c.id; });
      persist(e->c);
      changed_.notify_all();
      return;
    }
    if (!e->c.running()) throw NotModifiedError("container already stopped");
    e->c.manually_stopped = true;
    persist(e->c);
    std::string s = !signal.empty() ? signal : e->c.config.value("StopSignal", "");
    if (!s.empty()) sig = parse_signal(s);
    if (timeout < 0) timeout = e->c.config.value("StopTimeout", 10);
    paused = e->c.state.status == Status::kPaused;
  }
  signal_locked(*e, sig);
  if (paused) run_process(runtime_argv(get(e->c.id), {"resume", e->c.id}));
  std::unique_lock lock(mu_);
  uint64_t exits = e->exits;
  bool done = changed_.wait_for(lock, std::chrono::seconds(timeout), [&] { return e->exits != exits || !e->c.running(); });
  if (!done) {
    lock.unlock();
    signal_locked(*e, SIGKILL);
    lock.lock();
    if (!changed_.wait_for(lock, std::chrono::seconds(30), [&] { return e->exits != exits || !e->c.running(); }))
      fail("container {} did not exit within 30 seconds of SIGKILL", e->c.id);
  }
  Container c = e->c;
  lock.unlock();
  publish(c, "stop");
}

void Engine::kill(const std::string& ref, const std::string& signal) {
  auto e = lookup(ref);
  int sig = signal.empty() ? SIGKILL : parse_signal(signal);
  {
    std::lock_guard lock(mu_);
    if (!e->c.running()) throw ConflictError(fmt::format("Container {} is not running", e->c.id));
    e->c.manually_stopped = true;
    persist(e->c);
  }
  signal_locked(*e, sig);
  // dockerd returns from a SIGKILL only once the container is down, so
  // `docker kill x && docker rm x` works.
  if (sig == SIGKILL) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, std::chrono::seconds(10), [&] { return !e->c.running() || e->removed; });
  }
}

void Engine::restart(const std::string& ref, int timeout) {
  try {
    stop(ref, timeout, "");
  } catch (const NotModifiedError&) {
  }
  auto e = lookup(ref);
  std::lock_guard op(e->op);
  {
    std::lock_guard lock(mu_);
    if (e->c.running()) return;
  }
  start_locked(*e);
  // RestartCount counts the policy's restarts only, as dockerd's does.
  publish(get(e->c.id), "restart");
}

void Engine::pause(const std::string& ref) {
  auto e = lookup(ref);
  std::lock_guard op(e->op);
  Container c = get(e->c.id);
  if (!c.running()) throw ConflictError(fmt::format("Container {} is not running", c.id));
  if (c.state.status == Status::kPaused) throw ConflictError(fmt::format("Container {} is already paused", c.id));
  run_capture(runtime_argv(c, {"pause", c.id}));
  std::lock_guard lock(mu_);
  e->c.state.status = Status::kPaused;
  persist(e->c);
  publish(e->c, "pause");
}

void Engine::unpause(const std::string& ref) {
  auto e = lookup(ref);
  std::lock_guard op(e->op);
  Container c = get(e->c.id);
  if (c.state.status != Status::kPaused) throw ConflictError(fmt::format("Container {} is not paused", c.id));
  run_capture(runtime_argv(c, {"resume", c.id}));
  std::lock_guard lock(mu_);
  e->c.state.status = Status::kRunning;
  persist(e->c);
  publish(e->c, "unpause");
}

void Engine::remove(const std::string& ref, bool force, bool remove_volumes) {
  auto e = lookup(ref);
  {
    std::unique_lock op(e->op);
    bool running;
    {
      std::lock_guard lock(mu_);
      if (e->removed) return;
      running = e->c.running();
      if (running && !force)
        throw ConflictError(fmt::format(
            "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
            e->c.name));
      if (e->c.state.status == Status::kRestarting) {
        std::erase_if(restarts_, [&](const auto& kv) { return kv.second == e->c.id; });
        e->c.state.status = Status::kExited;
      }
      e->c.manually_stopped = true;
    }
    if (running) {
      bool paused = get(e->c.id).state.status == Status::kPaused;
      signal_locked(*e, SIGKILL);
      if (paused) run_process(runtime_argv(get(e->c.id), {"resume", e->c.id}));
      std::unique_lock lock(mu_);
      if (!changed_.wait_for(lock, std::chrono::seconds(30), [&] { return !e->c.running(); }))
        fail("could not kill container {}", e->c.id);
    }
    remove_locked(e, remove_volumes);
  }
}

void Engine::remove_locked(const std::shared_ptr<Entry>& e, bool remove_volumes) {
  Container c;
  UniqueFd shim;
  {
    std::lock_guard lock(mu_);
    if (e->removed) return;
    e->c.state.status = Status::kRemoving;
    c = e->c;
    if (e->shim_pidfd.valid()) shim.reset(::fcntl(e->shim_pidfd.get(), F_DUPFD_CLOEXEC, 3));
    // Gone for every client from here on (docker run --rm waits for this);
    // the files follow on the janitor thread.
    e->removed = true;
    containers_.erase(c.id);
    names_.erase(c.name);
    for (auto& p : e->pending_attaches) {
      p->error = "container removed";
      p->done = true;
    }
    e->pending_attaches.clear();
    std::erase_if(execs_, [&](const auto& kv) { return kv.second->r.container_id == c.id; });
  }
  release_volumes(c, remove_volumes);  // before "destroy", as dockerd's cleanupContainer
  publish(c, "destroy");
  changed_.notify_all();

  auto cleanup = [this, c, shim = std::make_shared<UniqueFd>(std::move(shim))] {
    // The shim may still be running the runtime's delete; let it finish.
    if (shim->valid()) {
      struct pollfd p{shim->get(), POLLIN, 0};
      while (::poll(&p, 1, 30000) < 0 && errno == EINTR) {
      }
    }
    unmount_rootfs(rootfs_paths(container_dir(c.id)));
    // The shim's --cleanup normally deleted the runtime's record already.
    if (path_exists(path_join(runtime_root(c.runtime), c.id))) run_process(runtime_argv(c, {"delete", "--force", c.id}));
    discard_dir(exec_dir(c.id));
    discard_dir(container_dir(c.id));
  };
  std::lock_guard lock(mu_);
  trash_.push_back(std::move(cleanup));
  changed_.notify_all();
}

void Engine::rename(const std::string& ref, const std::string& new_name_in) {
  auto e = lookup(ref);
  std::string new_name = !new_name_in.empty() && new_name_in[0] == '/' ? new_name_in.substr(1) : new_name_in;
  if (new_name.empty()) throw InvalidArgumentError("Neither old nor new names may be empty");
  try {
    validate_container_name(new_name);
  } catch (const Error& ex) {
    throw InvalidArgumentError(ex.what());
  }
  std::lock_guard lock(mu_);
  std::string old = e->c.name;
  if (old == "/" + new_name) throw ConflictError("Renaming a container with the same name as its current name");
  if (auto it = names_.find("/" + new_name); it != names_.end())
    throw ConflictError(fmt::format("Error when allocating new name: Conflict. The container name \"/{}\" is already "
                                    "in use by container \"{}\". You have to remove (or rename) that container to "
                                    "be able to reuse that name.",
                                    new_name, it->second));
  names_.erase(old);
  networks_->rename(e->c.id, new_name);
  e->c.name = "/" + new_name;
  names_[e->c.name] = e->c.id;
  persist(e->c);
  publish(e->c, "rename", {{"oldName", old}});
}

WaitResult Engine::wait(const std::string& ref, WaitCondition cond, std::stop_token stop,
                        const std::function<void()>& registered) {
  auto e = lookup(ref);
  std::unique_lock lock(mu_);
  uint64_t exits = e->exits;
  if (registered) {
    lock.unlock();
    registered();
    lock.lock();
  }
  auto done = [&] {
    switch (cond) {
      case WaitCondition::kNotRunning:
        return e->removed || (!e->c.running() && e->c.state.status != Status::kRestarting);
      case WaitCondition::kNextExit:
        return e->removed || e->exits != exits;
      case WaitCondition::kRemoved:
        return e->removed;
    }
    return true;
  };
  changed_.wait(lock, stop, done);
  if (!done()) throw Error("wait cancelled: the daemon is shutting down");
  return {e->c.state.exit_code, e->c.state.error};
}

std::vector<std::string> Engine::prune(const std::function<bool(const Container&)>& filter) {
  std::vector<std::string> removed;
  for (const auto& c : list()) {
    if (c.running() || c.state.status == Status::kRestarting || !filter(c)) continue;
    try {
      remove(c.id, false, false);
      removed.push_back(c.id);
    } catch (const Error&) {
      // started or removed meanwhile
    }
  }
  return removed;
}

}  // namespace berth::engine
