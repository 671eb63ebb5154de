// ps: list containers with docker's columns, truncation and --format.
#include <cstdio>

#include "base/strings.h"
#include "berth.h"
#include "cli/formatters.h"

namespace berth::cmd {

int cmd_ps(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "List containers");
  c.flags.add_bool("a,all", "Show all containers (default shows just running)");
  c.flags.add_list("f,filter", "Filter output based on conditions provided");
  c.flags.add_value("format", "Format output using a custom template");
  c.flags.add_value("n,last", "Show n last created containers (includes all states)", "-1");
  c.flags.add_bool("l,latest", "Show the latest created container (includes all states)");
  c.flags.add_bool("no-trunc", "Don't truncate output");
  c.flags.add_bool("q,quiet", "Only display container IDs");
  c.flags.add_bool("s,size", "Display total file sizes");
  c.no_args(c.parse(args));
  long long last;
  if (!parse_int64(c.flags.value("last"), &last))
    fail("invalid argument \"{}\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"{}\": invalid syntax",
         c.flags.value("last"), c.flags.value("last"));
  if (c.flags.on("latest") && last == -1) last = 1;
  std::string format = c.flags.value("format");
  bool size = c.flags.on("size") || format.find(".Size") != std::string::npos;
  if (c.flags.on("quiet")) {
    format = "{{.ID}}";
    size = false;
  }
  cli::Query q;
  q.add_if(c.flags.on("all"), "all", "1");
  q.add_if(last > 0, "limit", std::to_string(last));
  q.add_if(size, "size", "1");
  if (!c.flags.list("filter").empty()) q.add("filters", filters_json(c.flags.list("filter")).dump());
  json list = ctx.api().get("/containers/json" + q.str());
  int64_t now = now_seconds();
  std::vector<json> rows;
  for (const json& ct : list) rows.push_back(cli::container_row(ct, !c.flags.on("no-trunc"), now));
  std::string def = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
  if (c.flags.on("size")) def += "\t{{.Size}}";
  json header = {{"ID", "CONTAINER ID"}, {"Image", "IMAGE"},     {"Command", "COMMAND"},
                 {"CreatedAt", "CREATED AT"}, {"RunningFor", "CREATED"}, {"Status", "STATUS"},
                 {"Ports", "PORTS"},      {"Names", "NAMES"},     {"Size", "SIZE"},
                 {"Labels", "LABELS"},    {"Mounts", "MOUNTS"},   {"Networks", "NETWORKS"},
                 {"LocalVolumes", "LOCAL VOLUMES"}, {"State", "STATE"}};
  std::fputs(cli::render_list(format, def, header, rows).c_str(), stdout);
  return 0;
}

}  // namespace berth::cmd
