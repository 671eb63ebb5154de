#include <cstdlib>
#include <memory>

#include "commands.h"

namespace berth::cmd {

// LISTEN_FDS (socket activation) adds to --preserve-fds, as in runc.
static int listen_fds() {
  const char* v = std::getenv("LISTEN_FDS");
  return v ? std::atoi(v) : 0;
}

void add_create_flags(CLI::App* sub, runtime::CreateOptions& o) {
  sub->add_option("id", o.id, "container id")->required();
  sub->add_option("-b,--bundle", o.bundle, "bundle directory");
  sub->add_option("--console-socket", o.console_socket, "unix socket that receives the pty master");
  sub->add_option("--pid-file", o.pid_file, "file to write the container's pid to");
  sub->add_flag("--no-pivot", o.no_pivot, "use MS_MOVE + chroot instead of pivot_root");
  sub->add_flag("--no-new-keyring", o.no_new_keyring, "do not create a new session keyring");
  sub->add_option("--preserve-fds", o.preserve_fds, "pass N extra fds (from 3) to the container");
}

void add_create(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("create", "create a container");
  auto o = std::make_shared<runtime::CreateOptions>();  // owned by the callback
  add_create_flags(sub, *o);
  sub->callback([&g, o, code] {
    o->listen_fds = listen_fds();
    runtime::create_container(g.context(), *o);
    *code = 0;
  });
}

void add_run(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("run", "create and start a container");
  auto o = std::make_shared<runtime::CreateOptions>();
  add_create_flags(sub, *o);
  sub->add_flag("-d,--detach", o->detach, "detach from the container's process");
  sub->add_flag("--keep", o->keep, "do not delete the container after it exits");
  sub->callback([&g, o, code] {
    o->listen_fds = listen_fds();
    *code = runtime::run_container(g.context(), *o);
  });
}

void add_start(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("start", "start a created container");
  auto id = std::make_shared<std::string>();
  sub->add_option("id", *id, "container id")->required();
  sub->callback([&g, id, code] {
    runtime::start_container(g.context(), *id);
    *code = 0;
  });
}

void add_state(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("state", "output the state of a container");
  auto id = std::make_shared<std::string>();
  sub->add_option("id", *id, "container id")->required();
  sub->callback([&g, id, code] {
    print_json(runtime::container_state(g.context(), *id), true);
    *code = 0;
  });
}

}  // namespace berth::cmd
