// events: container statistics, once (--stats) or every --interval.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "base/error.h"
#include "commands.h"

namespace berth::cmd {

void add_events(CLI::App& app, Globals& g, int* code) {
  auto* sub = app.add_subcommand("events", "show container events and statistics");
  struct Opts {
    std::string id, interval = "5s";
    bool stats = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("id", o->id, "container id")->required();
  sub->add_option("--interval", o->interval, "stats collection interval (e.g. 5s, 500ms)");
  sub->add_flag("--stats", o->stats, "print statistics once and exit");
  sub->callback([&g, o, code] {
    auto ctx = g.context();
    if (o->stats) {
      print_json(runtime::container_stats(ctx, o->id), false);
      *code = 0;
      return;
    }
    double secs;
    const std::string& iv = o->interval;
    try {
      if (iv.size() > 2 && iv.substr(iv.size() - 2) == "ms") secs = std::stod(iv.substr(0, iv.size() - 2)) / 1000;
      else if (!iv.empty() && iv.back() == 's') secs = std::stod(iv.substr(0, iv.size() - 1));
      else if (!iv.empty() && iv.back() == 'm') secs = std::stod(iv.substr(0, iv.size() - 1)) * 60;
      else secs = std::stod(iv);
    } catch (...) {
      fail("events: invalid --interval {:?}", iv);
    }
    if (secs <= 0) fail("events: --interval must be positive");
    while (true) {
      nlohmann::json ev;
      try {
        ev = runtime::container_stats(ctx, o->id);
      } catch (const Error&) {
        break;  // container gone: the stream ends
      }
      print_json(ev, false);
      fflush(stdout);
      ::usleep(static_cast<useconds_t>(secs * 1e6));
    }
    *code = 0;
  });
}

}  // namespace berth::cmd
