// version, info, events, system df, system prune, builder prune.
#include <time.h>

#include <cstdio>

#include "base/clock.h"
#include "base/strings.h"
#include "berth.h"
#include "cli/formatters.h"
#include "cli/stream.h"
#include "cli/template.h"
#include "cli/units.h"

namespace berth::cmd {
namespace {

constexpr const char* kVersion = "0.1.0-dev";
constexpr const char* kApiVersion = "1.41";

std::string s(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// docker's reformatDate: RFC 3339 build times shown as time.ANSIC, local.
std::string ansic(const std::string& rfc3339) {
  long long nanos;
  if (!parse_rfc3339_nano(rfc3339, &nanos)) return rfc3339;
  time_t t = static_cast<time_t>(nanos / 1000000000);
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

json client_info(const Context& ctx) {
  return {{"Version", kVersion},    {"ApiVersion", kApiVersion}, {"DefaultAPIVersion", kApiVersion},
          {"GitCommit", ""},        {"GoVersion", ""},           {"Os", "linux"},
          {"Arch", "amd64"},        {"BuildTime", ""},           {"Context", "default"},
          {"Host", ctx.host}};
}

void row(std::string& out, std::string_view indent, std::string_view key, std::string_view value) {
  out += fmt::format("{}{:<18}{}\n", indent, std::string(key) + ":", value);
}

}  // namespace

int cmd_version(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Show the Berth version information");
  c.flags.add_value("f,format", "Format output using a custom template");
  c.no_args(c.parse(args));
  json data = {{"Client", client_info(ctx)}};
  std::string server_error;
  try {
    data["Server"] = ctx.api().get("/version");
  } catch (const Error& e) {
    server_error = e.what();
    data["Server"] = nullptr;
  }
  if (!c.flags.value("format").empty()) {
    std::string f = c.flags.value("format") == "json" ? "{{json .}}" : c.flags.value("format");
    std::printf("%s\n", cli::Template::parse(f).execute(data).c_str());
  } else {
    std::string out = "Client:\n";
    row(out, " ", "Version", kVersion);
    row(out, " ", "API version", kApiVersion);
    row(out, " ", "OS/Arch", "linux/amd64");
    row(out, " ", "Context", "default");
    if (!data["Server"].is_null()) {
      const json& sv = data["Server"];
      std::string platform = sv.contains("Platform") ? s(sv["Platform"], "Name") : "";
      out += "\nServer:" + (platform.empty() ? "" : " " + platform) + "\n";
      for (const json& comp : sv.value("Components", json::array())) {
        const json& d = comp.value("Details", json::object());
        out += " " + s(comp, "Name") + ":\n";
        if (s(comp, "Name") == "Engine") {
          row(out, "  ", "Version", s(comp, "Version"));
          row(out, "  ", "API version", s(d, "ApiVersion") + " (minimum version " + s(d, "MinAPIVersion") + ")");
          row(out, "  ", "Go version", s(d, "GoVersion"));
          row(out, "  ", "Git commit", s(d, "GitCommit"));
          row(out, "  ", "Built", ansic(s(d, "BuildTime")));
          row(out, "  ", "OS/Arch", s(d, "Os") + "/" + s(d, "Arch"));
          row(out, "  ", "Experimental", s(d, "Experimental"));
        } else {
          row(out, "  ", "Version", s(comp, "Version"));
          for (auto& [k, v] : d.items()) row(out, "  ", k, v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
    }
    std::fputs(out.c_str(), stdout);
  }
  if (!server_error.empty()) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", server_error.c_str());
    return 1;
  }
  return 0;
}

int cmd_info(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Display system-wide information");
  c.flags.add_value("f,format", "Format output using a custom template");
  c.no_args(c.parse(args));
  json info = ctx.api().get("/info");
  if (!c.flags.value("format").empty()) {
    json data = info;
    data["ClientInfo"] = client_info(ctx);
    std::string f = c.flags.value("format") == "json" ? "{{json .}}" : c.flags.value("format");
    std::printf("%s\n", cli::Template::parse(f).execute(data).c_str());
    return 0;
  }
  std::string o = "Client:\n Version:    " + std::string(kVersion) + "\n Context:    default\n Debug Mode: false\n\nServer:\n";
  auto line = [&](std::string_view indent, std::string_view k, const std::string& v) {
    o += fmt::format("{}{}: {}\n", indent, k, v);
  };
  line(" ", "Containers", s(info, "Containers"));
  line("  ", "Running", s(info, "ContainersRunning"));
  line("  ", "Paused", s(info, "ContainersPaused"));
  line("  ", "Stopped", s(info, "ContainersStopped"));
  line(" ", "Images", s(info, "Images"));
  line(" ", "Server Version", s(info, "ServerVersion"));
  line(" ", "Storage Driver", s(info, "Driver"));
  for (const json& kv : info.value("DriverStatus", json::array()))
    if (kv.is_array() && kv.size() == 2) line("  ", kv[0].get<std::string>(), kv[1].get<std::string>());
  line(" ", "Logging Driver", s(info, "LoggingDriver"));
  line(" ", "Cgroup Driver", s(info, "CgroupDriver"));
  line(" ", "Cgroup Version", s(info, "CgroupVersion"));
  if (info.contains("Plugins") && info["Plugins"].is_object()) {
    o += " Plugins:\n";
    for (const char* k : {"Volume", "Network", "Log"}) {
      std::vector<std::string> names;
      for (const json& n : info["Plugins"].value(k, json::array())) names.push_back(n.get<std::string>());
      line("  ", k, join(names, " "));
    }
  }
  if (info.contains("Runtimes") && info["Runtimes"].is_object()) {
    std::vector<std::string> names;
    for (auto& [k, v] : info["Runtimes"].items()) names.push_back(k);
    line(" ", "Runtimes", join(names, " "));
  }
  line(" ", "Default Runtime", s(info, "DefaultRuntime"));
  if (info.contains("SecurityOptions") && info["SecurityOptions"].is_array()) {
    o += " Security Options:\n";
    for (const json& opt : info["SecurityOptions"]) {
      std::vector<std::string> parts = split(opt.get<std::string>(), ',');
      for (const std::string& p : parts) {
        if (p.starts_with("name=")) o += "  " + p.substr(5) + "\n";
        else if (p.starts_with("profile=")) o += "   Profile: " + p.substr(8) + "\n";
      }
    }
  }
  line(" ", "Kernel Version", s(info, "KernelVersion"));
  line(" ", "Operating System", s(info, "OperatingSystem"));
  line(" ", "OSType", s(info, "OSType"));
  line(" ", "Architecture", s(info, "Architecture"));
  line(" ", "CPUs", s(info, "NCPU"));
  line(" ", "Total Memory", cli::bytes_size(static_cast<double>(info.value("MemTotal", int64_t{0}))));
  line(" ", "Name", s(info, "Name"));
  line(" ", "ID", s(info, "ID"));
  line(" ", "Docker Root Dir", s(info, "DockerRootDir"));
  line(" ", "Debug Mode", s(info, "Debug"));
  line(" ", "Experimental", s(info, "ExperimentalBuild"));
  line(" ", "Live Restore Enabled", s(info, "LiveRestoreEnabled"));
  std::fputs(o.c_str(), stdout);
  for (const json& w : info.value("Warnings", json::array())) std::fprintf(stderr, "%s\n", w.get<std::string>().c_str());
  return 0;
}

int cmd_events(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Get real time events from the server");
  c.flags.add_list("f,filter", "Filter output based on conditions provided");
  c.flags.add_value("format", "Format output using a custom template");
  c.flags.add_value("since", "Show all events created since timestamp");
  c.flags.add_value("until", "Stream events until this timestamp");
  c.no_args(c.parse(args));
  cli::Query q;
  int64_t now = now_nanos();
  if (c.flags.changed("since")) q.add("since", cli::api_timestamp(c.flags.value("since"), now));
  if (c.flags.changed("until")) q.add("until", cli::api_timestamp(c.flags.value("until"), now));
  if (!c.flags.list("filter").empty()) q.add("filters", filters_json(c.flags.list("filter")).dump());
  std::string format = c.flags.value("format") == "json" ? "{{json .}}" : c.flags.value("format");
  std::optional<cli::Template> tmpl;
  if (!format.empty()) tmpl = cli::Template::parse(format);
  cli::JsonLineSplitter lines([&](const json& ev) {
    std::string out;
    if (tmpl) {
      out = tmpl->execute(ev) + "\n";
    } else {
      // docker's default: "2024-01-01T10:00:00.123456789Z container start <id> (image=bb, name=x)".
      long long nanos = ev.value("timeNano", int64_t{0});
      if (nanos == 0) nanos = ev.value("time", int64_t{0}) * 1000000000LL;
      time_t secs = static_cast<time_t>(nanos / 1000000000);
      struct tm tm;
      localtime_r(&secs, &tm);
      char date[64], zone[16];
      strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
      strftime(zone, sizeof zone, "%z", &tm);
      std::string z = zone;
      z = z == "+0000" ? "Z" : z.substr(0, 3) + ":" + z.substr(3);
      const json& actor = ev.value("Actor", json::object());
      out = fmt::format("{}.{:09}{} {} {} {}", date, nanos % 1000000000, z, s(ev, "Type"), s(ev, "Action"),
                        s(actor, "ID"));
      const json& attrs = actor.value("Attributes", json::object());
      if (!attrs.empty()) {
        std::vector<std::string> kv;
        for (auto& [k, v] : attrs.items()) kv.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
        out += " (" + join(kv, ", ") + ")";
      }
      out += "\n";
    }
    cli::write_all(1, out);
  });
  ctx.api().stream("GET", "/events" + q.str(), [&](std::string_view d) { lines.feed(d); });
  lines.finish();
  return 0;
}

int cmd_system_df(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Show docker disk usage");
  c.flags.add_value("format", "Format output using a custom template");
  c.flags.add_bool("v,verbose", "Show detailed information on space usage");
  c.no_args(c.parse(args));
  json du = ctx.api().get("/system/df");
  int64_t now = now_seconds();
  auto pct = [](int64_t part, int64_t total) {
    if (total == 0) return std::string();
    return fmt::format(" ({}%)", static_cast<int>(100.0 * static_cast<double>(part) / static_cast<double>(total)));
  };
  std::vector<json> rows;
  {
    int64_t total = 0, active = 0, size = du.value("LayersSize", int64_t{0}), reclaim = 0;
    for (const json& img : du.value("Images", json::array())) {
      ++total;
      int64_t containers = img.value("Containers", int64_t{0});
      if (containers > 0) ++active;
      else reclaim += img.value("Size", int64_t{0}) - std::max<int64_t>(img.value("SharedSize", int64_t{0}), 0);
    }
    rows.push_back({{"Type", "Images"}, {"TotalCount", std::to_string(total)}, {"Active", std::to_string(active)},
                    {"Size", cli::human_size(static_cast<double>(size), 4)},
                    {"Reclaimable", cli::human_size(static_cast<double>(reclaim), 4) + pct(reclaim, size)}});
  }
  {
    int64_t total = 0, active = 0, size = 0, reclaim = 0;
    for (const json& ct : du.value("Containers", json::array())) {
      ++total;
      int64_t sz = ct.value("SizeRw", int64_t{0});
      size += sz;
      std::string state = ct.value("State", "");
      if (state == "running" || state == "paused" || state == "restarting") ++active;
      else reclaim += sz;
    }
    rows.push_back({{"Type", "Containers"}, {"TotalCount", std::to_string(total)}, {"Active", std::to_string(active)},
                    {"Size", cli::human_size(static_cast<double>(size), 4)},
                    {"Reclaimable", cli::human_size(static_cast<double>(reclaim), 4) + pct(reclaim, size)}});
  }
  {
    int64_t total = 0, active = 0, size = 0, reclaim = 0;
    for (const json& v : du.value("Volumes", json::array())) {
      ++total;
      const json& usage = v.value("UsageData", json::object());
      int64_t sz = std::max<int64_t>(usage.value("Size", int64_t{0}), 0);
      size += sz;
      if (usage.value("RefCount", int64_t{0}) > 0) ++active;
      else reclaim += sz;
    }
    rows.push_back({{"Type", "Local Volumes"}, {"TotalCount", std::to_string(total)},
                    {"Active", std::to_string(active)}, {"Size", cli::human_size(static_cast<double>(size), 4)},
                    {"Reclaimable", cli::human_size(static_cast<double>(reclaim), 4) + pct(reclaim, size)}});
  }
  {
    int64_t total = 0, size = 0;
    for (const json& b : du.value("BuildCache", json::array())) {
      ++total;
      size += b.value("Size", int64_t{0});
    }
    rows.push_back({{"Type", "Build Cache"}, {"TotalCount", std::to_string(total)}, {"Active", "0"},
                    {"Size", cli::human_size(static_cast<double>(size), 4)},
                    {"Reclaimable", cli::human_size(static_cast<double>(size), 4)}});
  }
  (void)now;
  json header = {{"Type", "TYPE"}, {"TotalCount", "TOTAL"}, {"Active", "ACTIVE"}, {"Size", "SIZE"},
                 {"Reclaimable", "RECLAIMABLE"}};
  std::fputs(cli::render_list(c.flags.value("format"),
                              "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", header,
                              rows)
                 .c_str(),
             stdout);
  return 0;
}

namespace {
// "Deleted Containers:\n<id>\n...\n\nTotal reclaimed space: 1.2MB".
int64_t print_prune(const json& r, const char* list_key, const char* title, bool images) {
  const json& items = r.value(list_key, json::array());
  if (items.is_array() && !items.empty()) {
    std::printf("%s:\n", title);
    for (const json& it : items) {
      if (images && it.is_object()) {
        for (auto& [k, v] : it.items()) std::printf("%s: %s\n", k.c_str(), v.get<std::string>().c_str());
      } else {
        std::printf("%s\n", it.get<std::string>().c_str());
      }
    }
    std::printf("\n");
  }
  return r.value("SpaceReclaimed", int64_t{0});
}

bool confirm(const char* warning, bool force) {
  if (force) return true;
  std::printf("%s\nAre you sure you want to continue? [y/N] ", warning);
  std::fflush(stdout);
  char buf[16] = {0};
  if (!std::fgets(buf, sizeof buf, stdin)) return false;
  return buf[0] == 'y' || buf[0] == 'Y';
}
}  // namespace

int cmd_container_prune(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Remove all stopped containers");
  c.flags.add_bool("f,force", "Do not prompt for confirmation");
  c.flags.add_list("filter", "Provide filter values (e.g. \"until=<timestamp>\")");
  c.no_args(c.parse(args));
  if (!confirm("WARNING! This will remove all stopped containers.", c.flags.on("force"))) return 0;
  cli::Query q;
  if (!c.flags.list("filter").empty()) q.add("filters", filters_json(c.flags.list("filter")).dump());
  json r = ctx.api().post("/containers/prune" + q.str());
  int64_t space = print_prune(r, "ContainersDeleted", "Deleted Containers", false);
  std::printf("Total reclaimed space: %s\n", cli::human_size(static_cast<double>(space)).c_str());
  return 0;
}

int cmd_image_prune(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Remove unused images");
  c.flags.add_bool("a,all", "Remove all unused images, not just dangling ones");
  c.flags.add_bool("f,force", "Do not prompt for confirmation");
  c.flags.add_list("filter", "Provide filter values (e.g. \"until=<timestamp>\")");
  c.no_args(c.parse(args));
  const char* warning = c.flags.on("all") ? "WARNING! This will remove all images without at least one container associated to them."
                                          : "WARNING! This will remove all dangling images.";
  if (!confirm(warning, c.flags.on("force"))) return 0;
  json f = filters_json(c.flags.list("filter"));
  f["dangling"][c.flags.on("all") ? "false" : "true"] = true;
  json r = ctx.api().post("/images/prune" + cli::Query().add("filters", f.dump()).str());
  int64_t space = print_prune(r, "ImagesDeleted", "Deleted Images", true);
  std::printf("Total reclaimed space: %s\n", cli::human_size(static_cast<double>(space)).c_str());
  return 0;
}

int cmd_builder_prune(Context& ctx, const Args& args) {
  Command c(ctx, "", "Remove build cache");
  c.flags.add_bool("a,all", "Remove all unused build cache, not just dangling ones");
  c.flags.add_bool("f,force", "Do not prompt for confirmation");
  c.flags.add_list("filter", "Provide filter values (e.g. \"until=24h\")");
  c.flags.add_value("keep-storage", "Amount of disk space to keep for cache");
  c.no_args(c.parse(args));
  const char* warning = c.flags.on("all") ? "WARNING! This will remove all build cache."
                                          : "WARNING! This will remove all dangling build cache.";
  if (!confirm(warning, c.flags.on("force"))) return 0;
  cli::Query q;
  if (c.flags.on("all")) q.add("all", "1");
  json r = ctx.api().post("/build/prune" + q.str());
  int64_t space = print_prune(r, "CachesDeleted", "Deleted build cache objects", false);
  std::printf("Total reclaimed space: %s\n", cli::human_size(static_cast<double>(space)).c_str());
  return 0;
}

int cmd_system_prune(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Remove unused data");
  c.flags.add_bool("a,all", "Remove all unused images not just dangling ones");
  c.flags.add_bool("f,force", "Do not prompt for confirmation");
  c.flags.add_bool("volumes", "Prune anonymous volumes");
  c.flags.add_list("filter", "Provide filter values (e.g. \"label=<key>=<value>\")");
  c.no_args(c.parse(args));
  std::string warning = "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n";
  if (c.flags.on("volumes")) warning += "  - all anonymous volumes not used by at least one container\n";
  warning += c.flags.on("all") ? "  - all images without at least one container associated to them\n  - all build cache\n"
                               : "  - all dangling images\n  - unused build cache\n";
  if (!confirm(warning.c_str(), c.flags.on("force"))) return 0;
  json f = filters_json(c.flags.list("filter"));
  std::string fq = cli::Query().add("filters", f.dump()).str();
  int64_t space = 0;
  space += print_prune(ctx.api().post("/containers/prune" + fq), "ContainersDeleted", "Deleted Containers", false);
  if (c.flags.on("volumes"))
    space += print_prune(ctx.api().post("/volumes/prune" + fq), "VolumesDeleted", "Deleted Volumes", false);
  json nr = ctx.api().post("/networks/prune" + fq);
  print_prune(nr, "NetworksDeleted", "Deleted Networks", false);
  json fi = f;
  fi["dangling"][c.flags.on("all") ? "false" : "true"] = true;
  space += print_prune(ctx.api().post("/images/prune" + cli::Query().add("filters", fi.dump()).str()),
                       "ImagesDeleted", "Deleted Images", true);
  space += print_prune(ctx.api().post("/build/prune" + std::string(c.flags.on("all") ? "?all=1" : "")),
                       "CachesDeleted", "Deleted build cache objects", false);
  std::printf("Total reclaimed space: %s\n", cli::human_size(static_cast<double>(space)).c_str());
  return 0;
}

}  // namespace berth::cmd
