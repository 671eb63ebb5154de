#include "session.h"

#include "cli/terminal.h"

namespace berth::cmd {

void resize_tty(Context& ctx, const std::string& resize_path) {
  cli::WindowSize ws = cli::window_size(1);
  if (ws.rows == 0 && ws.cols == 0) return;
  try {
    ctx.api().post(resize_path + "/resize" +
                   cli::Query().add("h", std::to_string(ws.rows)).add("w", std::to_string(ws.cols)).str());
  } catch (const Error&) {
    // A process that already exited cannot be resized; nothing to tell the user.
  }
}

cli::PumpEnd run_session(Context& ctx, cli::Hijacked& conn, const SessionSpec& spec) {
  cli::PumpOptions o;
  o.tty = spec.tty;
  o.forward_stdin = spec.forward_stdin;
  o.detach_keys = cli::parse_detach_keys(spec.detach_keys.empty() ? "ctrl-p,ctrl-q" : spec.detach_keys);
  if (spec.tty && !spec.resize_path.empty()) o.on_resize = [&] { resize_tty(ctx, spec.resize_path); };
  if (!spec.tty && !spec.proxy_to.empty()) {
    o.on_signal = [&](int sig) {
      try {
        ctx.api().post("/containers/" + spec.proxy_to + "/kill?signal=" + std::to_string(sig));
      } catch (const Error&) {
      }
    };
  }
  std::optional<cli::RawTerminal> raw;
  if (spec.tty && spec.forward_stdin) raw.emplace(0);
  return cli::pump(conn, o);
}

}  // namespace berth::cmd
