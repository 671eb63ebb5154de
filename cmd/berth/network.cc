// network create, ls, inspect, rm, connect, disconnect, prune (docker 28's
// cli/command/network, speaking API v1.41 as berth does everywhere).
#include <algorithm>
#include <cstdio>
#include <map>

#include "base/strings.h"
#include "berth.h"
#include "cli/formatters.h"
#include "cli/network_options.h"
#include "cli/network_volume_rows.h"
#include "cli/units.h"
#include "object_verbs.h"

namespace berth::cmd {
namespace {

// MapOpts: "k=v" values into an object, the last value of a key winning.
json map_flag(const cli::FlagSet& flags, std::string_view name) {
  json m = json::object();
  for (const std::string& kv : flags.list(name)) {
    size_t eq = kv.find('=');
    m[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return m;
}

std::vector<std::string> link_flag(const cli::FlagSet& flags) {
  for (const std::string& l : flags.list("link")) {
    if (l.empty()) throw cli::UsageError("invalid argument \"\" for \"--link\" flag: empty string specified for links");
    if (split(l, ':').size() > 2)
      throw cli::UsageError(
          fmt::format("invalid argument {} for \"--link\" flag: bad format for links: {}", cli::go_quote(l), l));
  }
  return flags.list("link");
}

constexpr const char* kIngressWarning =
    "WARNING! Before removing the routing-mesh network, make sure all the nodes in your swarm run the same docker "
    "engine version. Otherwise, removal may not be effective and functionality of newly create ingress networks will "
    "be impaired.";

}  // namespace

int cmd_network_create(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] NETWORK", "Create a network");
  c.flags.add_bool("attachable", "Enable manual container attachment");
  c.flags.add_list("aux-address", "Auxiliary IPv4 or IPv6 addresses used by Network driver");
  c.flags.add_value("config-from", "The network from which to copy the configuration");
  c.flags.add_bool("config-only", "Create a configuration only network");
  c.flags.add_value("d,driver", "Driver to manage the Network", "bridge");
  c.flags.add_list("gateway", "IPv4 or IPv6 Gateway for the master subnet");
  c.flags.add_bool("ingress", "Create swarm routing-mesh network");
  c.flags.add_bool("internal", "Restrict external access to the network");
  c.flags.add_list("ip-range", "Allocate container ip from a sub-range");
  c.flags.add_value("ipam-driver", "IP Address Management Driver", "default");
  c.flags.add_list("ipam-opt", "Set IPAM driver specific options");
  c.flags.add_bool("ipv4", "Enable or disable IPv4 address assignment", true);
  c.flags.add_bool("ipv6", "Enable or disable IPv6 address assignment");
  c.flags.add_list("label", "Set metadata on a network");
  c.flags.add_list("o,opt", "Set driver specific options");
  c.flags.add_value("scope", "Control the network's scope");
  c.flags.add_list("subnet", "Subnet in CIDR format that represents a network segment");
  Args pos = c.parse(args);
  check_labels(c.flags.list("label"));
  cli::IpamFlags ipam{csv_list(c.flags, "subnet"), csv_list(c.flags, "ip-range"), csv_list(c.flags, "gateway"), {}};
  exact_args(ctx, pos, 1);
  for (const std::string& kv : c.flags.list("aux-address")) {
    size_t eq = kv.find('=');
    std::string name = kv.substr(0, eq), addr = eq == std::string::npos ? "" : kv.substr(eq + 1);
    auto same = std::find_if(ipam.aux.begin(), ipam.aux.end(), [&](const auto& a) { return a.first == name; });
    if (same != ipam.aux.end()) same->second = addr;
    else ipam.aux.emplace_back(name, addr);
  }
  json body = {{"Name", pos[0]},
               {"CheckDuplicate", true},
               {"Driver", c.flags.value("driver")},
               {"Scope", c.flags.value("scope")},
               {"IPAM",
                {{"Driver", c.flags.value("ipam-driver")},
                 {"Options", map_flag(c.flags, "ipam-opt")},
                 {"Config", cli::ipam_configs(ipam)}}},
               {"Internal", c.flags.on("internal")},
               {"Attachable", c.flags.on("attachable")},
               {"Ingress", c.flags.on("ingress")},
               {"ConfigOnly", c.flags.on("config-only")},
               {"ConfigFrom", c.flags.value("config-from").empty()
                                  ? json(nullptr)
                                  : json({{"Network", c.flags.value("config-from")}})},
               {"Options", map_flag(c.flags, "opt")},
               {"Labels", cli::kv_map(c.flags.list("label"))}};
  // Only a flag given on the command line overrides the daemon's default.
  if (c.flags.changed("ipv4")) body["EnableIPv4"] = c.flags.on("ipv4");
  if (c.flags.changed("ipv6")) body["EnableIPv6"] = c.flags.on("ipv6");
  json created = ctx.api().post("/networks/create", body);
  std::printf("%s\n", created.value("Id", "").c_str());
  return 0;
}

int cmd_network_ls(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "List networks");
  c.flags.add_list("f,filter", "Provide filter values (e.g. \"driver=bridge\")");
  c.flags.add_value("format", "Format output using a custom template");
  c.flags.add_bool("no-trunc", "Do not truncate the output");
  c.flags.add_bool("q,quiet", "Only display network IDs");
  Args pos = c.parse(args);
  json f = filters(c.flags.list("filter"), "-f, --filter");
  no_positional_args(ctx, pos);
  cli::Query q;
  if (!f.empty()) q.add("filters", f.dump());
  json list = ctx.api().get("/networks" + q.str());
  std::vector<json> networks(list.begin(), list.end());
  std::sort(networks.begin(), networks.end(), [](const json& a, const json& b) {
    return cli::natural_less(a.value("Name", ""), b.value("Name", ""));
  });
  std::vector<json> rows;
  for (const json& n : networks) rows.push_back(cli::network_row(n, !c.flags.on("no-trunc")));
  bool quiet = c.flags.on("quiet");
  std::string format = c.flags.value("format");
  if (format.empty() || format == "table")
    format = quiet ? "{{.ID}}" : "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
  else if (format == "raw")
    format = quiet ? "network_id: {{.ID}}"
                   : "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n";
  json header = {{"ID", "NETWORK ID"}, {"Name", "NAME"},         {"Driver", "DRIVER"},
                 {"Scope", "SCOPE"},   {"IPv4", "IPV4"},         {"IPv6", "IPV6"},
                 {"Internal", "INTERNAL"}, {"Labels", "LABELS"}, {"CreatedAt", "CREATED AT"}};
  std::fputs(cli::render_list(format, "", header, rows).c_str(), stdout);
  return 0;
}

int cmd_network_inspect(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks");
  c.flags.add_value("f,format", "Format output using a custom template");
  c.flags.add_bool("v,verbose", "Verbose output for diagnostics");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  std::string query = c.flags.on("verbose") ? "?verbose=true" : "";
  return inspect_raw(pos, c.flags.value("format"),
                     [&](const std::string& name) { return ctx.api().request("GET", "/networks/" + name + query); });
}

int cmd_network_rm(Context& ctx, const Args& args) {
  Command c(ctx, "NETWORK [NETWORK...]", "Remove one or more networks");
  c.flags.add_bool("f,force", "Do not error if the network does not exist");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  int status = 0;
  for (const std::string& name : pos) {
    cli::Response found = ctx.api().request("GET", "/networks/" + name);
    if (found.status < 400 && json::parse(found.body).value("Ingress", false) && !confirm(kIngressWarning)) continue;
    cli::Response r = ctx.api().request("DELETE", "/networks/" + name);
    if (r.status >= 400) {
      if (c.flags.on("force") && r.status == 404) continue;
      std::fflush(stdout);
      std::fprintf(stderr, "Error response from daemon: %s\n", cli::error_message(r.body).c_str());
      status = 1;
      continue;
    }
    std::printf("%s\n", name.c_str());
  }
  if (status != 0) {
    std::fflush(stdout);
    std::fprintf(stderr, "exit status %d\n", status);
  }
  return status;
}

int cmd_network_connect(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network");
  c.flags.add_list("alias", "Add network-scoped alias for the container");
  c.flags.add_list("driver-opt", "driver options for the network");
  c.flags.add_value("gw-priority",
                    "Highest gw-priority provides the default gateway. Accepts positive and negative values.", "0");
  c.flags.add_value("ip", "IPv4 address (e.g., \"172.30.100.104\")");
  c.flags.add_value("ip6", "IPv6 address (e.g., \"2001:db8::33\")");
  c.flags.add_list("link", "Add link to another container");
  c.flags.add_list("link-local-ip", "Add a link-local address for the container");
  Args pos = c.parse(args);
  std::vector<std::string> links = link_flag(c.flags);
  long long priority;
  if (std::string p = cli::go_quote(c.flags.value("gw-priority")); !parse_int64(c.flags.value("gw-priority"), &priority))
    throw cli::UsageError(
        fmt::format("invalid argument {} for \"--gw-priority\" flag: strconv.ParseInt: parsing {}: invalid syntax", p, p));
  std::vector<std::string> aliases = csv_list(c.flags, "alias"), driver_opts = csv_list(c.flags, "driver-opt"),
                           link_local = csv_list(c.flags, "link-local-ip");
  exact_args(ctx, pos, 2);
  json opts = json::object();
  for (const std::string& o : driver_opts) {
    size_t eq = o.find('=');
    std::string key(trim(o.substr(0, eq)));
    if (eq == std::string::npos || key.empty()) fail("invalid key/value pair format in driver options");
    opts[key] = std::string(trim(o.substr(eq + 1)));
  }
  cli::NetworkAttachment a;
  a.ipv4 = c.flags.value("ip");
  a.ipv6 = c.flags.value("ip6");
  a.link_local_ips = link_local;
  a.links = links;
  a.aliases = aliases;
  a.gw_priority = priority;
  json endpoint = cli::endpoint_settings(a);
  // docker's connect always sends these three, empty or not.
  if (endpoint["IPAMConfig"].is_null()) endpoint["IPAMConfig"] = json::object();
  endpoint["Aliases"] = aliases;
  endpoint["DriverOpts"] = opts;
  ctx.api().post("/networks/" + pos[0] + "/connect", json{{"Container", pos[1]}, {"EndpointConfig", endpoint}});
  return 0;
}

int cmd_network_disconnect(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network");
  c.flags.add_bool("f,force", "Force the container to disconnect from a network");
  Args pos = c.parse(args);
  exact_args(ctx, pos, 2);
  ctx.api().post("/networks/" + pos[0] + "/disconnect", json{{"Container", pos[1]}, {"Force", c.flags.on("force")}});
  return 0;
}

int cmd_network_prune(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Remove all unused networks");
  c.flags.add_list("filter", "Provide filter values (e.g. \"until=<timestamp>\")");
  c.flags.add_bool("f,force", "Do not prompt for confirmation");
  Args pos = c.parse(args);
  json f = filters(c.flags.list("filter"), "--filter");
  no_positional_args(ctx, pos);
  if (!c.flags.on("force") &&
      !confirm("WARNING! This will remove all custom networks not used by at least one container."))
    return 0;  // docker treats a "no" as a cancelled, successful run
  cli::Query q;
  if (!f.empty()) q.add("filters", f.dump());
  json report = ctx.api().post("/networks/prune" + q.str());
  const json deleted = report.value("NetworksDeleted", json::array());
  if (deleted.is_array() && !deleted.empty()) {
    std::string out = "Deleted Networks:\n";
    for (const json& id : deleted) out += id.get<std::string>() + "\n";
    std::printf("%s\n", out.c_str());
  }
  return 0;
}

}  // namespace berth::cmd
