#include <cstdlib>
#include <memory>

#include "base/error.h"
#include "base/fs.h"
#include "commands.h"

namespace berth::cmd {

void add_exec(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("exec", "run a new process inside a running container");
  auto o = std::make_shared<runtime::ExecOptions>();
  auto process_file = std::make_shared<std::string>();
  sub->add_option("--process,-p", *process_file, "process.json to run (overrides other flags)");
  sub->add_option("-e,--env", o->env, "environment variable KEY=VALUE")->allow_extra_args(false);
  sub->add_option("--cwd", o->cwd, "working directory");
  sub->add_option("-u,--user", o->user, "uid[:gid]");
  sub->add_option("-g,--additional-gids", o->additional_gids, "additional gid")->allow_extra_args(false);
  sub->add_option("-c,--cap", o->caps, "add a capability")->allow_extra_args(false);
  sub->add_flag("-t,--tty", o->tty, "allocate a pseudo-TTY");
  sub->add_flag("-d,--detach", o->detach, "detach from the process");
  sub->add_flag("--no-new-privs", o->no_new_privs, "set no_new_privs");
  sub->add_option("--console-socket", o->console_socket, "unix socket that receives the pty master");
  sub->add_option("--pid-file", o->pid_file, "file to write the process pid to");
  sub->add_option("--preserve-fds", o->preserve_fds, "pass N extra fds (from 3) to the process");
  auto ignored = std::make_shared<std::string>();
  auto ignored_flag = std::make_shared<bool>();
  sub->add_option("--process-label,--apparmor,--cgroup", *ignored, "accepted for compatibility");
  sub->add_flag("--ignore-paused", *ignored_flag, "accepted for compatibility");
  sub->prefix_command();
  sub->allow_extras();
  sub->callback([&g, o, process_file, ignored, ignored_flag, sub, code] {
    auto rest = sub->remaining();
    if (rest.empty()) fail("exec: container id required");
    o->id = rest[0];
    o->args.assign(rest.begin() + 1, rest.end());
    if (!process_file->empty()) {
      std::string text = *process_file == "-" ? std::string() : read_file(*process_file);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        fail("process {}: malformed JSON: {}", *process_file, e.what());
      }
      o->process = oci::parse_process(j, "process");
    }
    if (const char* v = std::getenv("LISTEN_FDS")) o->preserve_fds += std::atoi(v);
    *code = runtime::exec_in_container(g.context(), *o);
  });
}

}  // namespace berth::cmd
