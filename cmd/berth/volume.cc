// volume create, ls, inspect, rm, prune (docker 28's cli/command/volume).
//
// berth speaks API v1.41, where the daemon's prune removes every unused
// volume and knows no "all" filter or cluster volumes: docker 28 behaves so
// against such a daemon (its all-volumes warning; --all and --cluster
// refused), and so does berth.
#include <algorithm>
#include <cstdio>

#include "base/strings.h"
#include "berth.h"
#include "cli/formatters.h"
#include "cli/network_options.h"
#include "cli/network_volume_rows.h"
#include "cli/units.h"
#include "object_verbs.h"

namespace berth::cmd {
namespace {

constexpr const char* kApiVersion = "1.41";

[[noreturn]] void needs_newer_api(const char* flag, const char* version) {
  fail("\"{}\" requires API version {}, but the Berth daemon API version is {}", flag, version, kApiVersion);
}

}  // namespace

int cmd_volume_create(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] [VOLUME]", "Create a volume");
  c.flags.add_value("d,driver", "Specify volume driver name", "local");
  c.flags.add_list("label", "Set metadata for a volume");
  c.flags.add_value("name", "Specify volume name");
  c.flags.add_list("o,opt", "Set driver specific options");
  Args pos = c.parse(args);
  check_labels(c.flags.list("label"));
  max_args(ctx, pos, 1);
  std::string name = c.flags.value("name");
  if (!pos.empty()) {
    if (!name.empty())
      fail("conflicting options: cannot specify a volume-name through both --name and as a positional arg");
    name = pos[0];
  }
  json body = {{"Driver", c.flags.value("driver")}};
  json opts = json::object();
  for (const std::string& kv : c.flags.list("opt")) {
    size_t eq = kv.find('=');
    opts[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  if (!opts.empty()) body["DriverOpts"] = opts;
  if (!c.flags.list("label").empty()) body["Labels"] = cli::kv_map(c.flags.list("label"));
  if (!name.empty()) body["Name"] = name;
  json created = ctx.api().post("/volumes/create", body);
  std::printf("%s\n", created.value("Name", "").c_str());
  return 0;
}

int cmd_volume_ls(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "List volumes");
  c.flags.add_bool("cluster", "Display only cluster volumes, and use cluster volume list formatting");
  c.flags.add_list("f,filter", "Provide filter values (e.g. \"dangling=true\")");
  c.flags.add_value("format", "Format output using a custom template");
  c.flags.add_bool("q,quiet", "Only display volume names");
  Args pos = c.parse(args);
  json f = filters(c.flags.list("filter"), "-f, --filter");
  no_positional_args(ctx, pos);
  if (c.flags.on("cluster")) needs_newer_api("--cluster", "1.42");
  cli::Query q;
  if (!f.empty()) q.add("filters", f.dump());
  json list = ctx.api().get("/volumes" + q.str()).value("Volumes", json::array());
  std::vector<json> volumes;
  if (list.is_array()) volumes.assign(list.begin(), list.end());
  std::sort(volumes.begin(), volumes.end(), [](const json& a, const json& b) {
    return cli::natural_less(a.value("Name", ""), b.value("Name", ""));
  });
  std::vector<json> rows;
  for (const json& v : volumes) rows.push_back(cli::volume_row(v));
  bool quiet = c.flags.on("quiet");
  std::string format = c.flags.value("format");
  if (format.empty() || format == "table") format = quiet ? "{{.Name}}" : "table {{.Driver}}\t{{.Name}}";
  else if (format == "raw") format = quiet ? "name: {{.Name}}" : "name: {{.Name}}\\ndriver: {{.Driver}}\\n";
  json header = {{"ID", "ID"},           {"Name", "VOLUME NAME"},   {"Group", "GROUP"},
                 {"Driver", "DRIVER"},   {"Scope", "SCOPE"},        {"Availability", "AVAILABILITY"},
                 {"Mountpoint", "MOUNTPOINT"}, {"Labels", "LABELS"}, {"Links", "LINKS"},
                 {"Size", "SIZE"},       {"Status", "STATUS"}};
  std::fputs(cli::render_list(format, "", header, rows).c_str(), stdout);
  return 0;
}

int cmd_volume_inspect(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes");
  c.flags.add_value("f,format", "Format output using a custom template");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  return inspect_raw(pos, c.flags.value("format"),
                     [&](const std::string& name) { return ctx.api().request("GET", "/volumes/" + name); });
}

int cmd_volume_rm(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] VOLUME [VOLUME...]",
            "Remove one or more volumes. You cannot remove a volume that is in use by a container.");
  c.flags.add_bool("f,force", "Force the removal of one or more volumes");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  std::string query = c.flags.on("force") ? "?force=1" : "";
  // docker reports the failures together, after the names it removed.
  std::vector<std::string> errors;
  for (const std::string& name : pos) {
    cli::Response r = ctx.api().request("DELETE", "/volumes/" + name + query);
    if (r.status >= 400) {
      errors.push_back("Error response from daemon: " + cli::error_message(r.body));
      continue;
    }
    std::printf("%s\n", name.c_str());
  }
  std::fflush(stdout);
  for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  return errors.empty() ? 0 : 1;
}

int cmd_volume_prune(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Remove unused local volumes");
  c.flags.add_bool("a,all", "Remove all unused volumes, not just anonymous ones");
  c.flags.add_list("filter", "Provide filter values (e.g. \"label=<label>\")");
  c.flags.add_bool("f,force", "Do not prompt for confirmation");
  Args pos = c.parse(args);
  json f = filters(c.flags.list("filter"), "--filter");
  no_positional_args(ctx, pos);
  if (c.flags.on("all")) needs_newer_api("--all", "1.42");
  if (!c.flags.on("force") &&
      !confirm("WARNING! This will remove all local volumes not used by at least one container."))
    return 0;  // docker treats a "no" as a cancelled, successful run
  cli::Query q;
  if (!f.empty()) q.add("filters", f.dump());
  json report = ctx.api().post("/volumes/prune" + q.str());
  const json deleted = report.value("VolumesDeleted", json::array());
  int64_t reclaimed = 0;
  if (deleted.is_array() && !deleted.empty()) {
    std::string out = "Deleted Volumes:\n";
    for (const json& name : deleted) out += name.get<std::string>() + "\n";
    std::printf("%s\n", out.c_str());
    reclaimed = report.value("SpaceReclaimed", int64_t{0});
  }
  std::printf("Total reclaimed space: %s\n", cli::human_size(static_cast<double>(reclaimed), 4).c_str());
  return 0;
}

}  // namespace berth::cmd
