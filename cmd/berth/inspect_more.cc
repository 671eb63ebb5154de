// top, port, diff: read-only views of one container.
#include <algorithm>
#include <cstdio>

#include "base/strings.h"
#include "berth.h"
#include "cli/template.h"

namespace berth::cmd {

int cmd_top(Context& ctx, const Args& args) {
  Command c(ctx, "CONTAINER [ps OPTIONS]", "Display the running processes of a container");
  c.flags.stop_at_first_positional();
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  cli::Query q;
  if (pos.size() > 1) q.add("ps_args", join(Args(pos.begin() + 1, pos.end()), " "));
  json r = ctx.api().get("/containers/" + pos[0] + "/top" + q.str());
  std::vector<std::string> titles;
  for (const json& t : r.value("Titles", json::array())) titles.push_back(t.get<std::string>());
  std::string text = join(titles, "\t") + "\n";
  for (const json& p : r.value("Processes", json::array())) {
    std::vector<std::string> cells;
    for (const json& cell : p) cells.push_back(cell.get<std::string>());
    text += join(cells, "\t") + "\n";
  }
  std::fputs(cli::tabwrite(text, 20).c_str(), stdout);
  return 0;
}

int cmd_port(Context& ctx, const Args& args) {
  Command c(ctx, "CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  c.at_most(pos, 2);
  json info = inspect_container(ctx, pos[0]);
  json ports = info["NetworkSettings"].value("Ports", json::object());
  if (!ports.is_object()) ports = json::object();
  auto host_of = [](const json& b) {
    std::string ip = b.value("HostIp", "");
    if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";
    return ip + ":" + b.value("HostPort", "");
  };
  if (pos.size() == 2) {
    std::string want = pos[1];
    if (want.find('/') == std::string::npos) want += "/tcp";
    auto it = ports.find(want);
    if (it != ports.end() && it->is_array() && !it->empty()) {
      for (const json& b : *it) std::printf("%s\n", host_of(b).c_str());
      return 0;
    }
    fail("Error: No public port '{}' published for {}", pos[1], pos[0]);
  }
  std::vector<std::string> lines;
  for (auto& [port, binds] : ports.items())
    if (binds.is_array())
      for (const json& b : binds) lines.push_back(port + " -> " + host_of(b));
  std::sort(lines.begin(), lines.end());
  for (const std::string& l : lines) std::printf("%s\n", l.c_str());
  return 0;
}

int cmd_diff(Context& ctx, const Args& args) {
  Command c(ctx, "CONTAINER", "Inspect changes to files or directories on a container's filesystem");
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  json changes = ctx.api().get("/containers/" + pos[0] + "/changes");
  if (changes.is_array()) {
    for (const json& ch : changes) {
      int kind = ch.value("Kind", 0);
      const char* k = kind == 0 ? "C" : kind == 1 ? "A" : "D";
      std::printf("%s %s\n", k, ch.value("Path", "").c_str());
    }
  }
  return 0;
}

}  // namespace berth::cmd
