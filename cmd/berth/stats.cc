// stats: live resource usage, CPU % computed as docker computes it from
// cpu_stats and precpu_stats.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "berth.h"
#include "cli/formatters.h"
#include "cli/stats.h"
#include "cli/stream.h"

namespace berth::cmd {

int cmd_stats(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics");
  c.flags.add_bool("a,all", "Show all containers (default shows just running)");
  c.flags.add_value("format", "Format output using a custom template");
  c.flags.add_bool("no-stream", "Disable streaming stats and only pull the first result");
  c.flags.add_bool("no-trunc", "Do not truncate output");
  Args pos = c.parse(args);
  std::vector<std::string> targets = pos;
  if (targets.empty()) {
    json list = ctx.api().get(std::string("/containers/json") + (c.flags.on("all") ? "?all=1" : ""));
    for (const json& ct : list) targets.push_back(ct["Id"].get<std::string>().substr(0, 12));
  }
  std::string def = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
  json header = {{"ID", "CONTAINER ID"}, {"Container", "CONTAINER"}, {"Name", "NAME"},
                 {"CPUPerc", "CPU %"},     {"MemUsage", "MEM USAGE / LIMIT"}, {"MemPerc", "MEM %"},
                 {"NetIO", "NET I/O"},     {"BlockIO", "BLOCK I/O"},  {"PIDs", "PIDS"}};
  bool trunc = !c.flags.on("no-trunc");
  if (c.flags.on("no-stream")) {
    std::vector<json> rows;
    int status = for_each_target(targets, [&](const std::string& t) {
      json s = ctx.api().get("/containers/" + t + "/stats?stream=0");
      rows.push_back(cli::stats_row(s, t, trunc));
    });
    std::fputs(cli::render_list(c.flags.value("format"), def, header, rows).c_str(), stdout);
    return status;
  }
  // Streaming: one reader thread per container keeps its latest row; the
  // screen is redrawn every second, as docker does.
  std::mutex mu;
  std::map<std::string, json> latest;
  std::vector<std::thread> readers;
  for (const std::string& t : targets) {
    readers.emplace_back([&, t] {
      try {
        cli::ApiClient api(ctx.host);
        cli::JsonLineSplitter lines([&](const json& s) {
          std::lock_guard lock(mu);
          latest[t] = cli::stats_row(s, t, trunc);
        });
        api.stream("GET", "/containers/" + t + "/stats?stream=1", [&](std::string_view d) { lines.feed(d); });
      } catch (const Error& e) {
        std::lock_guard lock(mu);
        std::fprintf(stderr, "%s\n", e.what());
        latest.erase(t);
      }
    });
  }
  for (auto& r : readers) r.detach();
  bool tty = stdout_is_terminal();
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    std::vector<json> rows;
    {
      std::lock_guard lock(mu);
      for (const std::string& t : targets)
        if (latest.count(t)) rows.push_back(latest[t]);
    }
    std::string out = cli::render_list(c.flags.value("format"), def, header, rows);
    if (tty) out = "\033[2J\033[H" + out;
    cli::write_all(1, out);
  }
}

}  // namespace berth::cmd
