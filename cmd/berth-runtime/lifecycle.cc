// kill, delete, pause, resume.
#include <memory>

#include "commands.h"
#include "runtime/signals.h"

namespace berth::cmd {

void add_kill(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("kill", "send a signal to a container's init (or all its processes)");
  struct Opts {
    std::string id, signal = "SIGTERM";
    bool all = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("id", o->id, "container id")->required();
  sub->add_option("signal", o->signal, "signal name or number (default SIGTERM)");
  sub->add_flag("-a,--all", o->all, "signal every process in the container");
  sub->callback([&g, o, code] {
    runtime::kill_container(g.context(), o->id, runtime::parse_signal(o->signal), o->all);
    *code = 0;
  });
}

void add_delete(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("delete", "delete a container's resources");
  struct Opts {
    std::vector<std::string> ids;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("id", o->ids, "container id")->required();
  sub->add_flag("-f,--force", o->force, "kill the container first if it is running");
  sub->callback([&g, o, code] {
    for (const auto& id : o->ids) runtime::delete_container(g.context(), id, o->force);
    *code = 0;
  });
}

void add_pause_resume(CLI::App& app, Globals& g, int* code) {
  auto id = std::make_shared<std::string>();
  auto* pause = app.add_subcommand("pause", "freeze every process of a container");
  pause->add_option("id", *id, "container id")->required();
  pause->callback([&g, id, code] {
    runtime::pause_container(g.context(), *id);
    *code = 0;
  });
  auto* resume = app.add_subcommand("resume", "thaw a paused container");
  resume->add_option("id", *id, "container id")->required();
  resume->callback([&g, id, code] {
    runtime::resume_container(g.context(), *id);
    *code = 0;
  });
}

}  // namespace berth::cmd
