// state, kill, pause, resume, update, ps and stats: operations on a
// container that already exists.
#include <signal.h>

#include "base/error.h"
#include "runtime/cgroups.h"
#include "runtime/container.h"

namespace berth::runtime {
namespace {

std::unique_ptr<Cgroup> cgroup_of(const ContainerRecord& rec) {
  if (rec.cgroup_paths.empty()) fail("container {} has no cgroup", rec.id);
  return Cgroup::from_paths(rec.cgroup_paths);
}

}  // namespace

nlohmann::json container_state(const Context& ctx, const std::string& id) {
  ContainerRecord rec = ctx.store.load(id);
  return state_json(rec, container_status(ctx.store, rec));
}

void kill_container(const Context& ctx, const std::string& id, int signal, bool all) {
  ContainerRecord rec = ctx.store.load(id);
  oci::Status st = container_status(ctx.store, rec);
  if (st == oci::Status::kStopped && !all) fail("container {} is not running", id);
  if (all) {
    auto cg = cgroup_of(rec);
    auto pids = cg->pids();
    // A stopped init may have left processes behind (shared pid namespace): --all reaches them too.
    if (st == oci::Status::kStopped && pids.empty()) fail("container {} is not running", id);
    for (int pid : pids)
      if (::kill(pid, signal) != 0 && errno != ESRCH) fail_errno("kill {} (pid {})", id, pid);
    // A frozen process cannot act on the signal; SIGKILL must still land.
    if (signal == SIGKILL && st == oci::Status::kPaused) cg->thaw();
    return;
  }
  if (::kill(rec.pid, signal) != 0) fail_errno("kill container {}", id);
}

void pause_container(const Context& ctx, const std::string& id) {
  ContainerRecord rec = ctx.store.load(id);
  oci::Status st = container_status(ctx.store, rec);
  if (st != oci::Status::kRunning && st != oci::Status::kCreated)
    fail("container {} is not running: {}", id, oci::status_name(st));
  cgroup_of(rec)->freeze();
}

void resume_container(const Context& ctx, const std::string& id) {
  ContainerRecord rec = ctx.store.load(id);
  oci::Status st = container_status(ctx.store, rec);
  if (st != oci::Status::kPaused) fail("container {} is not paused: {}", id, oci::status_name(st));
  cgroup_of(rec)->thaw();
}

void update_container(const Context& ctx, const std::string& id, const oci::Resources& res) {
  ContainerRecord rec = ctx.store.load(id);
  if (container_status(ctx.store, rec) == oci::Status::kStopped) fail("container {} is not running", id);
  cgroup_of(rec)->apply(res);
}

std::vector<int> container_pids(const Context& ctx, const std::string& id) {
  ContainerRecord rec = ctx.store.load(id);
  auto pids = cgroup_of(rec)->pids();
  return std::vector<int>(pids.begin(), pids.end());
}

nlohmann::json container_stats(const Context& ctx, const std::string& id) {
  ContainerRecord rec = ctx.store.load(id);
  if (container_status(ctx.store, rec) == oci::Status::kStopped) fail("container {} is not running", id);
  return nlohmann::json{{"type", "stats"}, {"id", id}, {"data", cgroup_of(rec)->stats()}};
}

}  // namespace berth::runtime
