// berth-runtime: an OCI runtime with runc's command line.
#include <unistd.h>

#include <cstdio>

#include "base/error.h"
#include "commands.h"
#include "runtime/cloned_binary.h"

namespace berth::cmd {


void print_json(const nlohmann::json& j, bool pretty) {
  std::string s = pretty ? j.dump(2) : j.dump();
  s += '\n';
  fwrite(s.data(), 1, s.size(), stdout);
}

// The verbs that enter a container re-execute from a sealed copy first; doing
// it before building the CLI saves parsing the command line twice.
bool enters_container(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--root" || a == "--log" || a == "--log-format" || a == "--criu") {
      ++i;  // its value
      continue;
    }
    if (a.starts_with("-")) continue;
    return a == "create" || a == "run" || a == "exec";
  }
  return false;
}

}  // namespace berth::cmd

int main(int argc, char** argv, char** envp) {
  using namespace berth;
  if (cmd::enters_container(argc, argv)) {
    try {
      runtime::ensure_running_from_sealed_copy(argv, envp);
    } catch (const Error& e) {
      fprintf(stderr, "berth-runtime: %s\n", e.what());
      return 1;
    }
  }
  cmd::Globals g;
  CLI::App app{"berth-runtime: an OCI container runtime with runc's command line", "berth-runtime"};
  app.require_subcommand(1);
  app.set_version_flag("-v,--version", "berth-runtime version 0.1.0\nspec: 1.1.0");
  app.add_option("--root", g.root, "state directory")->capture_default_str();
  app.add_option("--log", g.log_path, "log file (default stderr)");
  app.add_option("--log-format", g.log_format, "log format: text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug", g.debug, "debug logging");
  app.add_flag("--systemd-cgroup", g.systemd_cgroup, "cgroupsPath is slice:prefix:name (no systemd needed)");
  std::string criu;
  bool rootless_flag = false;
  app.add_option("--criu", criu, "ignored (checkpointing is not supported)");
  app.add_flag("--rootless", rootless_flag, "ignored (detected automatically)");

  int code = 0;
  cmd::add_create(app, g, &code);
  cmd::add_run(app, g, &code);
  cmd::add_start(app, g, &code);
  cmd::add_state(app, g, &code);
  cmd::add_kill(app, g, &code);
  cmd::add_delete(app, g, &code);
  cmd::add_exec(app, g, &code);
  cmd::add_list(app, g, &code);
  cmd::add_ps(app, g, &code);
  cmd::add_pause_resume(app, g, &code);
  cmd::add_update(app, g, &code);
  cmd::add_features(app, g, &code);
  cmd::add_spec(app, g, &code);
  cmd::add_events(app, g, &code);

  app.parse_complete_callback([&] { g.log.configure(g.log_path, g.log_format == "json", g.debug); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::RequiredError& e) {
    // "berth-runtime bogus": CLI11 only says a subcommand is required; name the word it did not know.
    auto rest = app.remaining();
    if (!rest.empty() && !rest[0].empty() && rest[0][0] != '-') {
      fprintf(stderr, "berth-runtime: unknown command \"%s\"\nRun with --help for more information.\n",
              rest[0].c_str());
      return static_cast<int>(CLI::ExitCodes::ExtrasError);
    }
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    g.log.error(e.what());
    return 1;
  } catch (const std::exception& e) {
    g.log.error(e.what());
    return 1;
  }
  fflush(stdout);
  return code;
}
