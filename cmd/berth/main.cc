// berth: the docker-compatible command line. Parses the global flags, finds
// the verb (also as "container ls", "image rm", "system df"), runs it and
// turns its errors into docker's messages and exit statuses.
#include <signal.h>

#include <cstdio>
#include <map>

#include "berth.h"
#include "cli/api_client.h"

namespace berth::cmd {
namespace {

using Verb = int (*)(Context&, const Args&);

const std::map<std::string, Verb>& top_verbs() {
  static const std::map<std::string, Verb> verbs = {
      {"attach", cmd_attach},   {"build", cmd_build},
      {"commit", cmd_commit},   {"cp", cmd_cp},           {"create", cmd_create},
      {"diff", cmd_diff},       {"events", cmd_events},   {"exec", cmd_exec},     {"export", cmd_export},
      {"history", cmd_history}, {"images", cmd_images},   {"import", cmd_import}, {"info", cmd_info},
      {"inspect", cmd_inspect}, {"kill", cmd_kill},       {"load", cmd_load},     {"login", cmd_login},
      {"logout", cmd_logout},   {"logs", cmd_logs},       {"pause", cmd_pause},   {"port", cmd_port},
      {"ps", cmd_ps},           {"pull", cmd_pull},       {"push", cmd_push},     {"rename", cmd_rename},
      {"restart", cmd_restart}, {"rm", cmd_rm},           {"rmi", cmd_rmi},       {"run", cmd_run},
      {"save", cmd_save},       {"search", cmd_search},   {"start", cmd_start},     {"stats", cmd_stats},   {"stop", cmd_stop},
      {"tag", cmd_tag},         {"top", cmd_top},         {"unpause", cmd_unpause}, {"update", cmd_update},
      {"version", cmd_version}, {"wait", cmd_wait},
  };
  return verbs;
}

const std::map<std::string, std::map<std::string, Verb>>& management() {
  static const std::map<std::string, std::map<std::string, Verb>> groups = {
      {"container",
       {{"attach", cmd_attach}, {"commit", cmd_commit}, {"cp", cmd_cp}, {"create", cmd_create},
        {"diff", cmd_diff}, {"exec", cmd_exec}, {"export", cmd_export}, {"inspect", cmd_container_inspect},
        {"kill", cmd_kill}, {"logs", cmd_logs}, {"ls", cmd_ps}, {"list", cmd_ps}, {"ps", cmd_ps},
        {"pause", cmd_pause}, {"port", cmd_port}, {"prune", cmd_container_prune}, {"rename", cmd_rename},
        {"restart", cmd_restart}, {"rm", cmd_rm}, {"remove", cmd_rm}, {"run", cmd_run}, {"start", cmd_start},
        {"stats", cmd_stats}, {"stop", cmd_stop}, {"top", cmd_top}, {"unpause", cmd_unpause},
        {"update", cmd_update}, {"wait", cmd_wait}}},
      {"image",
       {{"build", cmd_build}, {"history", cmd_history}, {"import", cmd_import}, {"inspect", cmd_image_inspect},
        {"load", cmd_load}, {"ls", cmd_images}, {"list", cmd_images}, {"prune", cmd_image_prune}, {"pull", cmd_pull},
        {"push", cmd_push}, {"rm", cmd_rmi}, {"remove", cmd_rmi}, {"save", cmd_save}, {"tag", cmd_tag}}},
      {"builder", {{"build", cmd_build}, {"prune", cmd_builder_prune}}},
      {"network",
       {{"connect", cmd_network_connect}, {"create", cmd_network_create}, {"disconnect", cmd_network_disconnect},
        {"inspect", cmd_network_inspect}, {"ls", cmd_network_ls}, {"list", cmd_network_ls},
        {"prune", cmd_network_prune}, {"rm", cmd_network_rm}, {"remove", cmd_network_rm}}},
      {"system",
       {{"df", cmd_system_df}, {"events", cmd_events}, {"info", cmd_info}, {"prune", cmd_system_prune}}},
      {"volume",
       {{"create", cmd_volume_create}, {"inspect", cmd_volume_inspect}, {"ls", cmd_volume_ls},
        {"list", cmd_volume_ls}, {"prune", cmd_volume_prune}, {"rm", cmd_volume_rm}, {"remove", cmd_volume_rm}}},
  };
  return groups;
}

void print_usage(FILE* out) {
  std::fprintf(out, "\nUsage:  berth [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\nCommands:\n");
  for (auto& [name, fn] : top_verbs()) std::fprintf(out, "  %s\n", name.c_str());
  std::fprintf(out, "\nManagement Commands:\n");
  for (auto& [name, verbs] : management()) std::fprintf(out, "  %s\n", name.c_str());
}

int dispatch(Context& ctx, const Args& argv) {
  cli::FlagSet global;
  global.stop_at_first_positional();
  global.add_list("H,host", "Daemon socket to connect to");
  global.add_bool("D,debug", "Enable debug mode");
  global.add_value("l,log-level", "Set the logging level", "info");
  global.add_value("config", "Location of client config files");
  global.add_value("c,context", "Name of the context to use");
  global.add_bool("tls", "Use TLS");
  global.add_bool("tlsverify", "Use TLS and verify the remote");
  global.add_bool("v,version", "Print version information and quit");
  global.add_bool("help", "Print usage");
  ctx.path = "berth";
  ctx.usage = "berth [OPTIONS] COMMAND";
  Args rest = global.parse(argv);
  ctx.host = cli::choose_host(global.list("host").empty() ? "" : global.list("host").back());
  if (global.on("version")) {
    std::printf("Berth version 0.1.0-dev\n");
    return 0;
  }
  if (rest.empty() || global.on("help") || rest[0] == "help") {
    print_usage(stdout);
    return 0;
  }
  std::string name = rest[0];
  Args args(rest.begin() + 1, rest.end());
  if (auto g = management().find(name); g != management().end()) {
    if (args.empty() || args[0] == "--help") {
      std::printf("\nUsage:  berth %s COMMAND\n\nCommands:\n", name.c_str());
      for (auto& [sub, fn] : g->second) std::printf("  %s\n", sub.c_str());
      return 0;
    }
    auto v = g->second.find(args[0]);
    if (v == g->second.end())
      throw cli::UsageError(fmt::format("unknown command: berth {} {}", name, args[0]), 1);
    ctx.path = "berth " + name + " " + args[0];
    return v->second(ctx, Args(args.begin() + 1, args.end()));
  }
  auto v = top_verbs().find(name);
  if (v == top_verbs().end()) {
    std::fprintf(stderr, "berth: unknown command: berth %s\n\nRun 'berth --help' for more information\n",
                 name.c_str());
    return 1;
  }
  ctx.path = "berth " + name;
  return v->second(ctx, args);
}

}  // namespace
}  // namespace berth::cmd

int main(int argc, char** argv) {
  using namespace berth;
  // A closed pipe (berth ps | head) shows up as EPIPE on write, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  cmd::Context ctx;
  try {
    return cmd::dispatch(ctx, cmd::Args(argv + 1, argv + argc));
  } catch (const cmd::HelpShown&) {
    return 0;
  } catch (const cli::UsageError& e) {
    std::fflush(stdout);
    if (e.status() == 1)
      std::fprintf(stderr, "berth: %s\n\nUsage:  %s\n\nSee '%s --help' for more information\n", e.what(),
                   ctx.usage.c_str(), ctx.path.c_str());
    else
      std::fprintf(stderr, "%s\n\nUsage:  %s\n\nRun '%s --help' for more information\n", e.what(),
                   ctx.usage.c_str(), ctx.path.c_str());
    return e.status();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
