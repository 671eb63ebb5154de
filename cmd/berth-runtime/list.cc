// list and ps.
#include <cstdio>
#include <memory>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "commands.h"

namespace berth::cmd {

namespace {

// Left-aligned columns, minimum width 12 and one space of padding, as Go's
// tabwriter prints runc's table.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(12);
      width[i] = std::max(width[i], r[i].size() + 1);
    }
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(width[i] - r[i].size(), ' ');
    }
    out += '\n';
  }
  return out;
}

}  // namespace

void add_list(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("list", "list containers");
  struct Opts {
    std::string format = "table";
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("-f,--format", o->format, "table or json")->check(CLI::IsMember({"table", "json"}));
  sub->add_flag("-q,--quiet", o->quiet, "only ids");
  sub->callback([&g, o, code] {
    auto ctx = g.context();
    nlohmann::json all = nlohmann::json::array();
    for (const auto& id : ctx.store.list_ids()) {
      try {
        all.push_back(runtime::container_state(ctx, id));
      } catch (const Error& e) {
        g.log.warn("list: {}", e.what());
      }
    }
    if (o->quiet) {
      for (const auto& c : all) printf("%s\n", c["id"].get<std::string>().c_str());
    } else if (o->format == "json") {
      print_json(all.empty() ? nlohmann::json(nullptr) : all, false);
    } else {
      std::vector<std::vector<std::string>> rows = {{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
      for (const auto& c : all)
        rows.push_back({c["id"], std::to_string(c["pid"].get<int>()), c["status"], c["bundle"], c["created"],
                        c["owner"].get<std::string>().empty() ? "root" : c["owner"].get<std::string>()});
      fputs(table(rows).c_str(), stdout);
    }
    *code = 0;
  });
}

void add_ps(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("ps", "processes running inside a container");
  struct Opts {
    std::string format = "table";
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("-f,--format", o->format, "table or json")->check(CLI::IsMember({"table", "json"}));
  sub->prefix_command();
  sub->allow_extras();
  sub->callback([&g, o, sub, code] {
    auto rest = sub->remaining();
    if (rest.empty()) fail("ps: container id required");
    auto pids = runtime::container_pids(g.context(), rest[0]);
    if (o->format == "json") {
      print_json(pids, false);
      *code = 0;
      return;
    }
    // Like runc: run the host's ps with the given options, keep the header and our pids.
    std::vector<std::string> args = {"ps"};
    if (rest.size() > 1) args.insert(args.end(), rest.begin() + 1, rest.end());
    else args.push_back("-ef");
    std::string out = run_capture(args);
    auto lines = split(out, '\n');
    if (lines.empty()) return;
    auto header = split(lines[0], ' ');
    size_t pid_col = SIZE_MAX, col = 0;
    for (const auto& h : header) {
      if (h.empty()) continue;
      if (h == "PID") pid_col = col;
      ++col;
    }
    if (pid_col == SIZE_MAX) fail("ps: no PID column in the output of {}", join(args, " "));
    printf("%s\n", lines[0].c_str());
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t c = 0;
      for (const auto& f : split(lines[i], ' ')) {
        if (f.empty()) continue;
        long long pid;
        if (c++ == pid_col && parse_int64(f, &pid) && std::find(pids.begin(), pids.end(), pid) != pids.end())
          printf("%s\n", lines[i].c_str());
      }
    }
    *code = 0;
  });
}

}  // namespace berth::cmd
