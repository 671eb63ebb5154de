// stop, kill, restart, pause, unpause, rm, wait, rename, update.
#include <cstdio>

#include "base/strings.h"
#include "berth.h"
#include "cli/units.h"

namespace berth::cmd {
namespace {

// Verbs that take a list of containers, POST one action each and print the
// name as given.
int each_container(Context& ctx, const Args& args, const std::string& usage_desc, const std::string& action,
                   void (*add_flags)(Command&), std::string (*query)(const Command&)) {
  Command c(ctx, "[OPTIONS] CONTAINER [CONTAINER...]", usage_desc);
  if (add_flags) add_flags(c);
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  std::string q = query ? query(c) : "";
  return for_each_target(pos, [&](const std::string& name) {
    ctx.api().post("/containers/" + name + "/" + action + q);
    std::printf("%s\n", name.c_str());
  });
}

void stop_flags(Command& c) {
  c.flags.add_value("s,signal", "Signal to send to the container");
  c.flags.add_value("t,timeout", "Seconds to wait before killing the container");
}
std::string stop_query(const Command& c) {
  cli::Query q;
  if (c.flags.changed("timeout")) {
    long long t;
    if (!parse_int64(c.flags.value("timeout"), &t))
      fail("invalid argument \"{}\" for \"-t, --timeout\" flag: strconv.ParseInt: parsing \"{}\": invalid syntax",
           c.flags.value("timeout"), c.flags.value("timeout"));
    q.add("t", std::to_string(t));
  }
  q.add_if(c.flags.changed("signal"), "signal", c.flags.value("signal"));
  return q.str();
}

}  // namespace

int cmd_stop(Context& ctx, const Args& args) {
  return each_container(ctx, args, "Stop one or more running containers", "stop", stop_flags, stop_query);
}

int cmd_restart(Context& ctx, const Args& args) {
  return each_container(ctx, args, "Restart one or more containers", "restart", stop_flags, stop_query);
}

int cmd_kill(Context& ctx, const Args& args) {
  return each_container(
      ctx, args, "Kill one or more running containers", "kill",
      [](Command& c) { c.flags.add_value("s,signal", "Signal to send to the container"); },
      [](const Command& c) {
        return c.flags.changed("signal") ? cli::Query().add("signal", c.flags.value("signal")).str() : std::string();
      });
}

int cmd_pause(Context& ctx, const Args& args) {
  return each_container(ctx, args, "Pause all processes within one or more containers", "pause", nullptr, nullptr);
}

int cmd_unpause(Context& ctx, const Args& args) {
  return each_container(ctx, args, "Unpause all processes within one or more containers", "unpause", nullptr, nullptr);
}

int cmd_rm(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers");
  c.flags.add_bool("f,force", "Force the removal of a running container (uses SIGKILL)");
  c.flags.add_bool("l,link", "Remove the specified link");
  c.flags.add_bool("v,volumes", "Remove anonymous volumes associated with the container");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  cli::Query q;
  q.add_if(c.flags.on("volumes"), "v", "1");
  q.add_if(c.flags.on("link"), "link", "1");
  q.add_if(c.flags.on("force"), "force", "1");
  return for_each_target(pos, [&](const std::string& name) {
    std::string n = name;
    while (n.starts_with("/")) n = n.substr(1);
    if (n.empty()) fail("Container name cannot be empty");
    ctx.api().call("DELETE", "/containers/" + n + q.str());
    std::printf("%s\n", name.c_str());
  });
}

int cmd_wait(Context& ctx, const Args& args) {
  Command c(ctx, "CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  return for_each_target(pos, [&](const std::string& name) {
    json r = ctx.api().post("/containers/" + name + "/wait");
    if (r.contains("Error") && r["Error"].is_object() && !r["Error"].value("Message", "").empty())
      fail("{}", r["Error"]["Message"].get<std::string>());
    std::printf("%lld\n", static_cast<long long>(r.value("StatusCode", int64_t{0})));
    std::fflush(stdout);
  });
}

int cmd_rename(Context& ctx, const Args& args) {
  Command c(ctx, "CONTAINER NEW_NAME", "Rename a container");
  Args pos = c.parse(args);
  c.exactly(pos, 2);
  std::string old_name = pos[0], new_name = pos[1];
  while (new_name.starts_with("/")) new_name = new_name.substr(1);
  if (new_name.empty() || old_name.empty()) fail("Error: neither old nor new names may be empty");
  try {
    ctx.api().post("/containers/" + old_name + "/rename?name=" + cli::url_escape(new_name));
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fail("Error: failed to rename container named {}", old_name);
  }
  return 0;
}

int cmd_update(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers");
  c.flags.add_value("blkio-weight", "Block IO (relative weight), between 10 and 1000, or 0 to disable");
  c.flags.add_value("cpu-period", "Limit CPU CFS (Completely Fair Scheduler) period");
  c.flags.add_value("cpu-quota", "Limit CPU CFS (Completely Fair Scheduler) quota");
  c.flags.add_value("c,cpu-shares", "CPU shares (relative weight)");
  c.flags.add_value("cpus", "Number of CPUs");
  c.flags.add_value("cpuset-cpus", "CPUs in which to allow execution (0-3, 0,1)");
  c.flags.add_value("cpuset-mems", "MEMs in which to allow execution (0-3, 0,1)");
  c.flags.add_value("m,memory", "Memory limit");
  c.flags.add_value("memory-reservation", "Memory soft limit");
  c.flags.add_value("memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap");
  c.flags.add_value("pids-limit", "Tune container pids limit (set -1 for unlimited)");
  c.flags.add_value("restart", "Restart policy to apply when a container exits");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  json body = json::object();
  bool any = false;
  auto integer = [&](const char* flag, const char* key) {
    if (!c.flags.changed(flag)) return;
    long long v;
    if (!parse_int64(c.flags.value(flag), &v))
      fail("invalid argument \"{}\" for \"--{}\" flag: strconv.ParseInt: parsing \"{}\": invalid syntax",
           c.flags.value(flag), flag, c.flags.value(flag));
    body[key] = v;
    any = true;
  };
  auto memory = [&](const char* flag, const char* key) {
    if (!c.flags.changed(flag)) return;
    const std::string& v = c.flags.value(flag);
    body[key] = v == "-1" ? -1 : cli::ram_in_bytes(v);
    any = true;
  };
  integer("blkio-weight", "BlkioWeight");
  integer("cpu-period", "CpuPeriod");
  integer("cpu-quota", "CpuQuota");
  integer("cpu-shares", "CpuShares");
  integer("pids-limit", "PidsLimit");
  memory("memory", "Memory");
  memory("memory-reservation", "MemoryReservation");
  memory("memory-swap", "MemorySwap");
  if (c.flags.changed("cpus")) {
    body["NanoCpus"] = static_cast<int64_t>(std::stod(c.flags.value("cpus")) * 1e9 + 0.5);
    any = true;
  }
  for (auto [flag, key] : {std::pair{"cpuset-cpus", "CpusetCpus"}, std::pair{"cpuset-mems", "CpusetMems"}}) {
    if (c.flags.changed(flag)) {
      body[key] = c.flags.value(flag);
      any = true;
    }
  }
  if (c.flags.changed("restart")) {
    std::string r = c.flags.value("restart");
    size_t colon = r.find(':');
    body["RestartPolicy"] = {{"Name", r.substr(0, colon)},
                             {"MaximumRetryCount", colon == std::string::npos ? 0 : std::stoi(r.substr(colon + 1))}};
    any = true;
  }
  if (!any) fail("you must provide one or more flags when using this command");
  return for_each_target(pos, [&](const std::string& name) {
    json r = ctx.api().post("/containers/" + name + "/update", body);
    if (r.is_object())
      for (const json& w : r.value("Warnings", json::array()))
        if (w.is_string()) std::fprintf(stderr, "%s\n", w.get<std::string>().c_str());
    std::printf("%s\n", name.c_str());
  });
}

}  // namespace berth::cmd
