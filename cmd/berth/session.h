// An interactive session over a hijacked connection (run, start -a,
// attach, exec): the user's terminal in raw mode when the container has a
// tty and we forward stdin, tty resizes sent to the daemon, and docker's
// signal proxying when there is no tty.
#pragma once

#include <string>

#include "berth.h"
#include "cli/attach_io.h"

namespace berth::cmd {

struct SessionSpec {
  bool tty = false;
  bool forward_stdin = false;
  std::string detach_keys;   // as typed ("ctrl-p,ctrl-q"); empty: docker's default
  std::string resize_path;   // "/containers/<id>" or "/exec/<id>"; empty: no resizing
  std::string proxy_to;      // container to send proxied signals to; empty: none
};

// POSTs <resize_path>/resize with the size of our stdout's terminal (if any).
void resize_tty(Context& ctx, const std::string& resize_path);

cli::PumpEnd run_session(Context& ctx, cli::Hijacked& conn, const SessionSpec& spec);

}  // namespace berth::cmd
