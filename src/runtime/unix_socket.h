// Unix-socket helpers for handing descriptors to other processes: the pty
// master to a --console-socket, the seccomp notify fd to a listenerPath.
#pragma once

#include <string>

#include "base/fd.h"

namespace berth::runtime {

// Connects a stream socket; Error "connect: <reason>" (callers name the path).
UniqueFd connect_unix(const std::string& path);
// Sends fd with SCM_RIGHTS along with payload (at least one byte is always
// sent, stream sockets drop ancillary data without any); the rest of a long
// payload follows in further writes.
void send_fd(int sock, int fd, const std::string& payload);
// Receives one descriptor sent by send_fd; Error on EOF or none attached.
UniqueFd recv_fd(int sock);

}  // namespace berth::runtime
