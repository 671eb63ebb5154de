// images, tag, rmi, history.
#include <algorithm>
#include <cstdio>

#include "berth.h"
#include "cli/formatters.h"
#include "cli/units.h"

namespace berth::cmd {

int cmd_images(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] [REPOSITORY[:TAG]]", "List images");
  c.flags.add_bool("a,all", "Show all images (default hides intermediate images)");
  c.flags.add_bool("digests", "Show digests");
  c.flags.add_list("f,filter", "Filter output based on conditions provided");
  c.flags.add_value("format", "Format output using a custom template");
  c.flags.add_bool("no-trunc", "Don't truncate output");
  c.flags.add_bool("q,quiet", "Only show image IDs");
  Args pos = c.parse(args);
  c.at_most(pos, 1);
  json filters = filters_json(c.flags.list("filter"));
  if (!pos.empty()) filters["reference"][pos[0]] = true;
  cli::Query q;
  q.add_if(c.flags.on("all"), "all", "1");
  if (!filters.empty()) q.add("filters", filters.dump());
  json list = ctx.api().get("/images/json" + q.str());
  int64_t now = now_seconds();
  bool trunc = !c.flags.on("no-trunc");
  std::vector<json> rows;
  for (const json& img : list) {
    auto r = cli::image_rows(img, trunc, now);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  std::string format = c.flags.value("format");
  std::string def = c.flags.on("digests")
                        ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
                        : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
  if (c.flags.on("quiet")) {
    format = "{{.ID}}";
    // docker prints each image once in quiet mode.
    std::vector<json> unique;
    for (const json& r : rows)
      if (std::none_of(unique.begin(), unique.end(), [&](const json& u) { return u["ID"] == r["ID"]; }))
        unique.push_back(r);
    rows = unique;
  }
  json header = {{"Repository", "REPOSITORY"}, {"Tag", "TAG"},     {"Digest", "DIGEST"},
                 {"ID", "IMAGE ID"},         {"CreatedSince", "CREATED"}, {"CreatedAt", "CREATED AT"},
                 {"Size", "SIZE"},           {"VirtualSize", "SIZE"},     {"SharedSize", "SHARED SIZE"},
                 {"UniqueSize", "UNIQUE SIZE"}, {"Containers", "CONTAINERS"}};
  std::fputs(cli::render_list(format, def, header, rows).c_str(), stdout);
  return 0;
}

int cmd_tag(Context& ctx, const Args& args) {
  Command c(ctx, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE");
  Args pos = c.parse(args);
  c.exactly(pos, 2);
  std::string target = pos[1], repo = target, tag;
  size_t colon = target.rfind(':');
  if (colon != std::string::npos && target.find('/', colon) == std::string::npos) {
    repo = target.substr(0, colon);
    tag = target.substr(colon + 1);
  }
  cli::Query q;
  q.add("repo", repo);
  q.add_if(!tag.empty(), "tag", tag);
  ctx.api().post("/images/" + pos[0] + "/tag" + q.str());
  return 0;
}

int cmd_rmi(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images");
  c.flags.add_bool("f,force", "Force removal of the image");
  c.flags.add_bool("no-prune", "Do not delete untagged parents");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  cli::Query q;
  q.add_if(c.flags.on("force"), "force", "1");
  q.add_if(c.flags.on("no-prune"), "noprune", "1");
  return for_each_target(pos, [&](const std::string& img) {
    json r = ctx.api().call("DELETE", "/images/" + img + q.str());
    for (const json& item : r) {
      if (item.contains("Untagged")) std::printf("Untagged: %s\n", item["Untagged"].get<std::string>().c_str());
      if (item.contains("Deleted")) std::printf("Deleted: %s\n", item["Deleted"].get<std::string>().c_str());
    }
  });
}

int cmd_history(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] IMAGE", "Show the history of an image");
  c.flags.add_value("format", "Format output using a custom template");
  c.flags.add_bool("H,human", "Print sizes and dates in human readable format", true);
  c.flags.add_bool("no-trunc", "Don't truncate output");
  c.flags.add_bool("q,quiet", "Only show image IDs");
  c.flags.add_value("platform", "Show history for the given platform");
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  json list = ctx.api().get("/images/" + pos[0] + "/history");
  bool human = c.flags.on("human");
  int64_t now = now_seconds();
  std::vector<json> rows;
  for (const json& h : list) rows.push_back(cli::history_row(h, !c.flags.on("no-trunc"), human, now));
  std::string format = c.flags.on("quiet") ? "{{.ID}}" : c.flags.value("format");
  json header = {{"ID", "IMAGE"},          {"CreatedSince", "CREATED"}, {"CreatedAt", "CREATED AT"},
                 {"CreatedBy", "CREATED BY"}, {"Size", "SIZE"},       {"Comment", "COMMENT"}};
  std::fputs(cli::render_list(format, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
                              header, rows)
                 .c_str(),
             stdout);
  return 0;
}

}  // namespace berth::cmd
