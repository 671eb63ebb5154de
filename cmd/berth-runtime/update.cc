// update: change a running container's resources, from flags or a JSON file.
#include <unistd.h>

#include <memory>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "commands.h"

namespace berth::cmd {
namespace {

// "512m", "1g", "100000": the RAM units docker and runc accept.
int64_t parse_bytes(const std::string& s) {
  if (s == "-1") return -1;
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  double num = 0;
  try {
    num = std::stod(s.substr(0, i));
  } catch (...) {
    fail("invalid size {:?}", s);
  }
  std::string unit = s.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  double mult = 1;
  if (unit == "k") mult = 1024;
  else if (unit == "m") mult = 1024.0 * 1024;
  else if (unit == "g") mult = 1024.0 * 1024 * 1024;
  else if (unit == "t") mult = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty()) fail("invalid size {:?}", s);
  return static_cast<int64_t>(num * mult);
}

}  // namespace

void add_update(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("update", "update a container's resource limits");
  struct Opts {
    std::string id, resources_file;
    std::string memory, memory_swap, memory_reservation, kernel_memory, kernel_memory_tcp;
    std::optional<uint64_t> cpu_shares, cpu_period, cpu_rt_period, blkio_weight;
    std::optional<int64_t> cpu_quota, cpu_rt_runtime, pids_limit;
    std::string cpuset_cpus, cpuset_mems;
    std::string rdt_ignored;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("id", o->id, "container id")->required();
  sub->add_option("-r,--resources", o->resources_file, "JSON resources file (- for stdin)");
  sub->add_option("--memory", o->memory, "memory limit");
  sub->add_option("--memory-swap", o->memory_swap, "memory+swap limit");
  sub->add_option("--memory-reservation", o->memory_reservation, "memory soft limit");
  sub->add_option("--kernel-memory", o->kernel_memory, "kernel memory limit (v1)");
  sub->add_option("--kernel-memory-tcp", o->kernel_memory_tcp, "kernel TCP memory limit (v1)");
  sub->add_option("--cpu-share", o->cpu_shares, "CPU shares");
  sub->add_option("--cpu-period", o->cpu_period, "CFS period (us)");
  sub->add_option("--cpu-quota", o->cpu_quota, "CFS quota (us)");
  sub->add_option("--cpu-rt-period", o->cpu_rt_period, "realtime period (us)");
  sub->add_option("--cpu-rt-runtime", o->cpu_rt_runtime, "realtime runtime (us)");
  sub->add_option("--cpuset-cpus", o->cpuset_cpus, "CPUs allowed");
  sub->add_option("--cpuset-mems", o->cpuset_mems, "memory nodes allowed");
  sub->add_option("--pids-limit", o->pids_limit, "maximum number of pids");
  sub->add_option("--blkio-weight", o->blkio_weight, "block IO weight (10-1000)");
  sub->add_option("--l3-cache-schema,--mem-bw-schema", o->rdt_ignored, "Intel RDT (not supported)");
  sub->callback([&g, o, code] {
    oci::Resources res;
    if (!o->resources_file.empty()) {
      std::string text;
      if (o->resources_file == "-") text = read_fd(STDIN_FILENO, "stdin");
      else text = read_file(o->resources_file);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        fail("update: resources {}: malformed JSON: {}", o->resources_file, e.what());
      }
      res = oci::parse_resources(j, "resources");
    }
    auto mem = [&]() -> oci::MemoryResources& {
      if (!res.memory) res.memory = oci::MemoryResources{};
      return *res.memory;
    };
    auto cpu = [&]() -> oci::CpuResources& {
      if (!res.cpu) res.cpu = oci::CpuResources{};
      return *res.cpu;
    };
    if (!o->memory.empty()) mem().limit = parse_bytes(o->memory);
    if (!o->memory_swap.empty()) mem().swap = parse_bytes(o->memory_swap);
    if (!o->memory_reservation.empty()) mem().reservation = parse_bytes(o->memory_reservation);
    if (!o->kernel_memory.empty()) mem().kernel = parse_bytes(o->kernel_memory);
    if (!o->kernel_memory_tcp.empty()) mem().kernel_tcp = parse_bytes(o->kernel_memory_tcp);
    if (o->cpu_shares) cpu().shares = o->cpu_shares;
    if (o->cpu_period) cpu().period = o->cpu_period;
    if (o->cpu_quota) cpu().quota = o->cpu_quota;
    if (o->cpu_rt_period) cpu().realtime_period = o->cpu_rt_period;
    if (o->cpu_rt_runtime) cpu().realtime_runtime = o->cpu_rt_runtime;
    if (!o->cpuset_cpus.empty()) cpu().cpus = o->cpuset_cpus;
    if (!o->cpuset_mems.empty()) cpu().mems = o->cpuset_mems;
    if (o->pids_limit) res.pids_limit = o->pids_limit;
    if (o->blkio_weight) {
      if (*o->blkio_weight != 0 && (*o->blkio_weight < 10 || *o->blkio_weight > 1000))
        fail("update: --blkio-weight must be 10..1000, got {}", *o->blkio_weight);
      res.block_io = oci::BlockIoResources{};
      res.block_io->weight = static_cast<uint16_t>(*o->blkio_weight);
    }
    runtime::update_container(g.context(), o->id, res);
    *code = 0;
  });
}

}  // namespace berth::cmd
