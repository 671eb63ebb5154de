// start and attach: joining a container's stdio, optionally starting it.
#include <cstdio>

#include "base/strings.h"
#include "berth.h"
#include "cli/terminal.h"
#include "session.h"

namespace berth::cmd {
namespace {

int exit_status_of(cli::ApiClient::Pending& waiter) {
  std::string result;
  waiter.read([&](std::string_view d) { result.append(d); });
  try {
    return json::parse(result).value("StatusCode", 0);
  } catch (const json::exception&) {
    return 0;
  }
}

}  // namespace

int cmd_start(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers");
  c.flags.add_bool("a,attach", "Attach STDOUT/STDERR and forward signals");
  c.flags.add_value("detach-keys", "Override the key sequence for detaching a container");
  c.flags.add_bool("i,interactive", "Attach container's STDIN");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  bool attach = c.flags.on("attach"), interactive = c.flags.on("interactive");
  if (attach || interactive) {
    if (pos.size() > 1) fail("you cannot start and attach multiple containers at once");
    json info = inspect_container(ctx, pos[0]);
    std::string id = info["Id"];
    bool tty = info["Config"].value("Tty", false);
    bool stdin_on = interactive && info["Config"].value("OpenStdin", false);
    if (tty && stdin_on && !cli::is_terminal(0)) fail("the input device is not a TTY");
    cli::Query q;
    q.add("stream", "1");
    q.add_if(stdin_on, "stdin", "1");
    q.add("stdout", "1").add("stderr", "1");
    q.add_if(c.flags.changed("detach-keys"), "detachKeys", c.flags.value("detach-keys"));
    cli::Hijacked conn = ctx.api().hijack("POST", "/containers/" + id + "/attach" + q.str());
    auto waiter = ctx.api().open("POST", "/containers/" + id + "/wait?condition=next-exit");
    ctx.api().post("/containers/" + id + "/start");
    if (tty && cli::is_terminal(1)) resize_tty(ctx, "/containers/" + id);
    SessionSpec spec{tty, stdin_on, c.flags.value("detach-keys"), "/containers/" + id, id};
    if (run_session(ctx, conn, spec) == cli::PumpEnd::kDetached) return 0;
    return exit_status_of(*waiter);
  }
  std::vector<std::string> failed;
  for (const std::string& name : pos) {
    try {
      ctx.api().post("/containers/" + name + "/start");
      std::printf("%s\n", name.c_str());
    } catch (const Error& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "%s\n", e.what());
      failed.push_back(name);
    }
  }
  if (!failed.empty()) fail("Error: failed to start containers: {}", join(failed, ", "));
  return 0;
}

int cmd_attach(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container");
  c.flags.add_value("detach-keys", "Override the key sequence for detaching a container");
  c.flags.add_bool("no-stdin", "Do not attach STDIN");
  c.flags.add_bool("sig-proxy", "Proxy all received signals to the process", true);
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  json info = inspect_container(ctx, pos[0]);
  std::string id = info["Id"];
  const json& state = info["State"];
  if (!state.value("Running", false)) fail("You cannot attach to a stopped container, start it first");
  if (state.value("Paused", false)) fail("You cannot attach to a paused container, unpause it first");
  if (state.value("Restarting", false)) fail("You cannot attach to a restarting container, wait until it is running");
  bool tty = info["Config"].value("Tty", false);
  bool stdin_on = !c.flags.on("no-stdin") && info["Config"].value("OpenStdin", false);
  if (tty && stdin_on && !cli::is_terminal(0)) fail("the input device is not a TTY");
  cli::Query q;
  q.add("stream", "1");
  q.add_if(stdin_on, "stdin", "1");
  q.add("stdout", "1").add("stderr", "1");
  q.add_if(c.flags.changed("detach-keys"), "detachKeys", c.flags.value("detach-keys"));
  auto waiter = ctx.api().open("POST", "/containers/" + id + "/wait");
  cli::Hijacked conn = ctx.api().hijack("POST", "/containers/" + id + "/attach" + q.str());
  if (tty && cli::is_terminal(1)) resize_tty(ctx, "/containers/" + id);
  SessionSpec spec{tty, stdin_on, c.flags.value("detach-keys"), "/containers/" + id,
                   c.flags.on("sig-proxy") ? id : ""};
  if (run_session(ctx, conn, spec) == cli::PumpEnd::kDetached) return 0;
  return exit_status_of(*waiter);
}

}  // namespace berth::cmd
