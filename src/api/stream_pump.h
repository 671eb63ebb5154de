// Moving bytes between a hijacked API connection and a container's stdio
// (attach and exec sessions).
//
// Contract: both functions return when the container side reaches EOF
// (everything it wrote has been forwarded), when the client hangs up, or
// when the client types the detach sequence (default ctrl-p ctrl-q; the
// sequence itself is not forwarded). The client's EOF closes the
// container's stdin only when close_stdin_on_eof, as docker's StdinOnce;
// otherwise it merely stops reading. Nothing blocks forever on a slow or
// vanished client: writes fail with EPIPE and end the session.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "base/fd.h"

namespace berth::api {

// One frame of docker's multiplexed stream: [stream, 0, 0, 0, size (big
// endian u32)] then the bytes; stream 1 is stdout, 2 stderr.
std::string docker_frame(int stream, std::string_view data);

// Docker's --detach-keys syntax ("ctrl-p,ctrl-q", "a,ctrl-a"); empty: the default.
// Throws Error on a bad spec.
std::string parse_detach_keys(const std::string& spec);

struct AttachStreams {
  bool tty = false;
  bool stdin = false, stdout = true, stderr = true;
  bool close_stdin_on_eof = false;
  std::string detach_keys;  // parsed bytes
};

// Shim attach socket (frames, or raw bytes with a tty) <-> client.
void pump_attach(int client, const std::string& client_buffered, int shim, const AttachStreams& s);

// Exec: pty master (tty) or pipes <-> client; frames without a tty.
void pump_exec(int client, const std::string& client_buffered, int pty, int stdin_w, int stdout_r, int stderr_r,
               const AttachStreams& s);

// Streams what produce(fd) writes (a tar) to the response body through a
// pipe; the status line goes out with the first bytes, so an error before
// any output is still an ordinary error response (its type kept for the
// router), and one after them drops the connection: the client sees a short tar.
void stream_tar(Response& res, const std::function<void(int)>& produce);

}  // namespace berth::api
