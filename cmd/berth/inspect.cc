// inspect (containers, images, networks, then volumes), container inspect, image inspect.
#include <cstdio>

#include "berth.h"
#include "cli/formatters.h"
#include "cli/template.h"

namespace berth::cmd {
namespace {

int inspect(Context& ctx, const Args& args, std::string type) {
  Command c(ctx, type.empty() ? "[OPTIONS] NAME|ID [NAME|ID...]" : "[OPTIONS] " + std::string(type == "container" ? "CONTAINER [CONTAINER...]" : "IMAGE [IMAGE...]"),
            "Return low-level information on Docker objects");
  c.flags.add_value("f,format", "Format output using a custom template");
  c.flags.add_bool("s,size", "Display total file sizes if the type is container");
  if (type.empty()) c.flags.add_value("type", "Return JSON for specified type");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  if (type.empty()) type = c.flags.value("type");
  if (!type.empty() && type != "container" && type != "image" && type != "network" && type != "volume")
    fail("\"{}\" is not a valid value for --type", type);
  std::string format = c.flags.value("format");
  std::optional<cli::Template> tmpl;
  if (!format.empty() && format != "json") tmpl = cli::Template::parse(format);

  // docker's order of lookups for a name of unknown type.
  struct Kind {
    const char* type;
    std::string path;
  };
  std::vector<std::string> raw, errors;
  for (const std::string& name : pos) {
    std::vector<Kind> kinds = {{"container", "/containers/" + name + "/json" + (c.flags.on("size") ? "?size=1" : "")},
                               {"image", "/images/" + name + "/json"},
                               {"network", "/networks/" + name},
                               {"volume", "/volumes/" + name}};
    cli::Response r;
    bool found = false, reported = false;
    for (const Kind& k : kinds) {
      if (!type.empty() && type != k.type) continue;
      r = ctx.api().request("GET", k.path);
      found = r.status < 400;
      if (found) break;
      if (r.status != 404) fail("Error response from daemon: {}", cli::error_message(r.body));
      if (type == k.type) {
        errors.push_back("Error response from daemon: " + cli::error_message(r.body));
        reported = true;
      }
    }
    if (reported) continue;
    if (!found) {
      errors.push_back("Error: No such object: " + name);
      continue;
    }
    raw.push_back(r.body);
  }
  if (tmpl) {
    for (const std::string& body : raw) std::printf("%s\n", tmpl->execute(json::parse(body)).c_str());
  } else {
    std::string all = "[";
    for (size_t i = 0; i < raw.size(); ++i) all += (i ? "," : "") + raw[i];
    all += "]";
    std::printf("%s\n", cli::indent_json(all).c_str());
  }
  std::fflush(stdout);
  for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  return errors.empty() ? 0 : 1;
}

}  // namespace

int cmd_inspect(Context& ctx, const Args& args) { return inspect(ctx, args, ""); }
int cmd_container_inspect(Context& ctx, const Args& args) { return inspect(ctx, args, "container"); }
int cmd_image_inspect(Context& ctx, const Args& args) { return inspect(ctx, args, "image"); }

}  // namespace berth::cmd
