// Engine: a running container's stdio, logs, processes and resources.
#include <algorithm>

#include "base/clock.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/rootfs_mount.h"
#include "engine/shim_launcher.h"
#include "runtime/cgroups.h"

namespace berth::engine {

std::unique_ptr<runtime::Cgroup> open_container_cgroup(const nlohmann::json& spec, const std::string& id,
                                                       const RuntimeSpec& rt) {
  std::string cgroups_path = spec.value("linux", nlohmann::json::object()).value("cgroupsPath", "");
  bool systemd = std::find(rt.args.begin(), rt.args.end(), "--systemd-cgroup") != rt.args.end();
  return runtime::Cgroup::open(cgroups_path, id, systemd);
}

UniqueFd Engine::attach(const std::string& ref, std::stop_token stop, const std::function<void()>& registered) {
  auto e = lookup(ref);
  auto p = std::make_shared<PendingAttach>();
  std::string running_id;
  {
    std::lock_guard lock(mu_);
    if (e->c.running())
      running_id = e->c.id;
    else
      e->pending_attaches.push_back(p);
  }
  publish(get(ref), "attach");
  if (!running_id.empty()) return connect_shim_socket(shim_state_dir(running_id), "attach.sock");
  if (registered) registered();
  std::unique_lock lock(mu_);
  changed_.wait(lock, stop, [&] { return p->done; });
  if (!p->done) {
    std::erase(e->pending_attaches, p);
    throw Error("attach cancelled");
  }
  if (!p->error.empty()) throw ConflictError(p->error);
  return std::move(p->fd);
}

void Engine::resize(const std::string& ref, int height, int width) {
  Container c = get(ref);
  if (!c.running()) throw ConflictError(fmt::format("Container {} is not running", c.id));
  if (!c.config.value("Tty", false)) return;  // dockerd accepts and ignores it
  shim_control(shim_state_dir(c.id), fmt::format("resize {} {}", height, width));
}

void Engine::logs(const std::string& ref, const LogQuery& q, const std::function<bool(const LogRecord&)>& sink,
                  std::stop_token stop) {
  auto e = lookup(ref);
  Container c = get(ref);
  if (c.log_path.empty())
    throw InvalidArgumentError("configured logging driver does not support reading");
  read_logs(
      c.log_path, q,
      [&] {
        std::lock_guard lock(mu_);
        return !e->removed && (e->c.running() || e->c.state.status == Status::kRestarting);
      },
      sink, stop);
}

std::vector<int> Engine::pids(const std::string& ref) {
  Container c = get(ref);
  if (!c.running()) throw ConflictError(fmt::format("Container {} is not running", c.id));
  auto j = nlohmann::json::parse(run_capture(runtime_argv(c, {"ps", "--format", "json", c.id})), nullptr, false);
  std::vector<int> out;
  if (j.is_array())
    for (const auto& p : j)
      if (p.is_number_integer()) out.push_back(p.get<int>());
  return out;
}

StatsSample Engine::stats(const std::string& ref) {
  Container c = get(ref);
  StatsSample s;
  if (!c.running()) return s;
  try {
    // The cgroup the spec named, whichever runtime created it: reading its
    // files directly costs no process per sample.
    auto spec = nlohmann::json::parse(read_file(path_join(exec_dir(c.id), "config.json")));
    s.cgroup = open_container_cgroup(spec, c.id, runtime_for(c))->stats();
  } catch (const std::exception&) {
    if (get(ref).running()) throw;
    return StatsSample{};  // it exited while we read
  }
  s.running = true;
  s.read = now_rfc3339_nano();
  HostCpu cpu = read_host_cpu();
  s.system_cpu_ns = cpu.system_ns;
  s.online_cpus = cpu.online;
  s.host_memory = read_host_memory();
  std::string net = c.host_config.value("NetworkMode", "");
  std::string dev;
  if (net != "host" && net != "none" && read_file_if_exists(fmt::format("/proc/{}/net/dev", c.state.pid), &dev))
    s.networks = parse_net_dev(dev);
  return s;
}

void Engine::update(const std::string& ref, const nlohmann::json& resources) {
  auto e = lookup(ref);
  std::lock_guard op(e->op);
  Container c = get(ref);
  std::vector<std::string> flags;
  auto num = [&](const char* key, const char* flag) {
    if (resources.contains(key) && resources[key].is_number() && resources[key].get<long long>() != 0)
      flags.insert(flags.end(), {flag, std::to_string(resources[key].get<long long>())});
  };
  auto str = [&](const char* key, const char* flag) {
    if (resources.contains(key) && resources[key].is_string() && !resources[key].get<std::string>().empty())
      flags.insert(flags.end(), {flag, resources[key].get<std::string>()});
  };
  num("Memory", "--memory");
  num("MemorySwap", "--memory-swap");
  num("MemoryReservation", "--memory-reservation");
  num("CpuShares", "--cpu-shares");
  num("CpuPeriod", "--cpu-period");
  num("CpuQuota", "--cpu-quota");
  num("PidsLimit", "--pids-limit");
  num("BlkioWeight", "--blkio-weight");
  str("CpusetCpus", "--cpuset-cpus");
  str("CpusetMems", "--cpuset-mems");
  if (resources.contains("NanoCpus") && resources["NanoCpus"].is_number() && resources["NanoCpus"].get<long long>() > 0) {
    long long period = 100000;
    flags.insert(flags.end(), {"--cpu-period", std::to_string(period), "--cpu-quota",
                               std::to_string(resources["NanoCpus"].get<long long>() * period / 1000000000LL)});
  }
  if (c.running() && !flags.empty()) {
    std::vector<std::string> verb{"update"};
    verb.insert(verb.end(), flags.begin(), flags.end());
    verb.push_back(c.id);
    run_capture(runtime_argv(c, verb));
  }
  std::lock_guard lock(mu_);
  for (const auto& [k, v] : resources.items())
    if (!v.is_null()) e->c.host_config[k] = v;
  persist(e->c);
  publish(e->c, "update");
}

std::string Engine::rootfs_path(const std::string& ref) {
  Container c = get(ref);
  RootfsPaths rp = rootfs_paths(container_dir(c.id));
  if (!is_mounted(rp.merged)) {
    image::ImageRecord img = images_.get(image::Digest::parse(c.image_id));
    mount_rootfs(rp, snapshots_.lowerdir_string(img.chain_ids()));
  }
  return rp.merged;
}

std::string Engine::upper_dir(const std::string& ref) {
  Container c = get(ref);
  return rootfs_paths(container_dir(c.id)).upper;
}

}  // namespace berth::engine
