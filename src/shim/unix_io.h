// Unix-socket plumbing for the shim's attach, control and console sockets.
#pragma once

#include <string>

#include "base/fd.h"

namespace berth::shim {

// A listening, non-blocking, close-on-exec stream socket at path (an
// existing socket file there is replaced). path must fit sun_path (107
// bytes); the shim passes names relative to its working directory, the
// state dir, to keep them short.
UniqueFd listen_unix(const std::string& path);
// Receives one descriptor passed with SCM_RIGHTS (the runtime's pty master).
UniqueFd recv_fd(int sock);
void set_nonblock(int fd);

}  // namespace berth::shim
