// exec: run a process in a running container (create the exec, start it
// hijacked, then read its exit code).
#include <cstdio>
#include <cstdlib>

#include "berth.h"
#include "cli/terminal.h"
#include "session.h"

namespace berth::cmd {

int cmd_exec(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container");
  c.flags.stop_at_first_positional();
  c.flags.add_bool("d,detach", "Detached mode: run command in the background");
  c.flags.add_value("detach-keys", "Override the key sequence for detaching a container");
  c.flags.add_list("e,env", "Set environment variables");
  c.flags.add_list("env-file", "Read in a file of environment variables");
  c.flags.add_bool("i,interactive", "Keep STDIN open even if not attached");
  c.flags.add_bool("privileged", "Give extended privileges to the command");
  c.flags.add_bool("t,tty", "Allocate a pseudo-TTY");
  c.flags.add_value("u,user", "Username or UID (format: \"<name|uid>[:<group|gid>]\")");
  c.flags.add_value("w,workdir", "Working directory inside the container");
  Args pos = c.parse(args);
  c.at_least(pos, 2);
  bool detach = c.flags.on("detach"), tty = c.flags.on("tty"), interactive = c.flags.on("interactive");
  std::vector<std::string> env;
  for (const std::string& e : c.flags.list("env")) {
    if (e.find('=') == std::string::npos) {
      if (const char* v = std::getenv(e.c_str())) {
        env.push_back(e + "=" + v);
        continue;
      }
    }
    env.push_back(e);
  }
  json body = {{"User", c.flags.value("user")},
               {"Privileged", c.flags.on("privileged")},
               {"Tty", tty},
               {"AttachStdin", interactive && !detach},
               {"AttachStdout", !detach},
               {"AttachStderr", !detach},
               {"Detach", detach},
               {"DetachKeys", c.flags.value("detach-keys")},
               {"Env", env},
               {"WorkingDir", c.flags.value("workdir")},
               {"Cmd", std::vector<std::string>(pos.begin() + 1, pos.end())}};
  if (tty && interactive && !detach && !cli::is_terminal(0)) fail("the input device is not a TTY");
  json created = ctx.api().post("/containers/" + pos[0] + "/exec", body);
  std::string exec_id = created["Id"];
  if (detach) {
    ctx.api().post("/exec/" + exec_id + "/start", json{{"Detach", true}, {"Tty", tty}});
    return 0;
  }
  cli::Hijacked conn = ctx.api().hijack("POST", "/exec/" + exec_id + "/start", json{{"Detach", false}, {"Tty", tty}});
  if (tty && cli::is_terminal(1)) resize_tty(ctx, "/exec/" + exec_id);
  SessionSpec spec{tty, interactive, c.flags.value("detach-keys"), "/exec/" + exec_id, ""};
  if (run_session(ctx, conn, spec) == cli::PumpEnd::kDetached) return 0;
  json info = ctx.api().get("/exec/" + exec_id + "/json");
  if (info.value("Running", false)) return 0;
  return info.value("ExitCode", 0);
}

}  // namespace berth::cmd
