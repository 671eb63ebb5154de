// Shim: the per-container monitor behind `berth-shim` (like conmon).
//
// Invocation (cmd/berth-shim):
//   berth-shim --id ID --bundle DIR --runtime PATH [--runtime-root DIR]
//              --state-dir DIR [--terminal] [--stdin [--stdin-once]]
//              [--log-path FILE [--log-max-size BYTES] [--log-max-file N]]
//              [--runtime-arg ARG]... [--cleanup] [--ready-fd N] [--start-fd N]
//
// Start-up: the process the caller runs forks; the child calls setsid and
// forks again, so the shim proper is in its own session, not the caller's
// child, and survives the caller (berthd) being killed. It makes itself a
// child subreaper, so the container init (and anything orphaned inside)
// is reparented to it, then runs
//   <runtime> [--root R] [runtime-args] create --bundle DIR
//             --pid-file <state>/init.pid [--console-socket <state>/console.sock] ID
//   <runtime> [--root R] [runtime-args] start ID
// Without --terminal the container's stdio are pipes the shim owns (stdin is
// /dev/null unless --stdin); with --terminal the runtime passes the pty
// master over the console socket. The outcome is reported as one message,
// both on --ready-fd (if given) and through the first process:
//   "ready <shim-pid> <init-pid>\n"   or   "error: <text>" to EOF,
// where <text> is the runtime's stderr verbatim. The first process exits 0
// on ready, or prints <text> to its stderr and exits 1. <state>/shim.pid
// holds the shim's pid.
//
// With --start-fd the shim stops between the two runtime calls: once the
// container is created and the attach and control sockets listen, it writes
// "created <shim-pid> <init-pid>\n" to --ready-fd and reads --start-fd:
// "start" continues to `<runtime> start` (and then "ready ..."), EOF
// deletes the container and reports "error: aborted before start". Clients
// that connect to attach.sock before they send "start" see every byte the
// container writes (docker's attach-before-start for `docker run`).
//
// While the container runs (single-threaded epoll loop):
//  - Log: with --log-path, every output line becomes a docker json-file
//    record (json_log.h, 16 KiB partial lines as docker's copier), rotated at
//    --log-max-size keeping --log-max-file files (log_file.h). A tty's output
//    is all "stdout".
//  - <state>/attach.sock: any number of clients. Each receives live output:
//    docker multiplexed frames (frame.h: stream 1 stdout, 2 stderr) or, with
//    a tty, raw bytes. Bytes a client sends are written to the container's
//    stdin when --stdin (discarded otherwise). With --stdin-once a client's
//    EOF (shutdown(SHUT_WR)) closes the container's stdin, as docker's
//    StdinOnce. A client that falls 4 MiB behind is disconnected rather
//    than stalling the container.
//  - <state>/control.sock: line commands, each answered "ok\n" or
//    "error <reason>\n":  "resize <rows> <cols>" (TIOCSWINSZ on the pty),
//    "close-stdin" (closes the stdin pipe; with a tty sends VEOF, ^D).
//
// OOM kills: if <state>/memory-cgroup exists when the shim starts, it holds
// the absolute directory of the container's memory cgroup (berthd maps the
// spec's cgroupsPath onto the host's hierarchies; the shim has no cgroup
// code of its own). The shim reads its OOM-kill count (exit_record.h) once
// the container is created and again before it records the exit, which is
// before the runtime's delete removes the cgroup; a rise is recorded as
// "oom_killed": true. Without the file, or on a kernel without the counter,
// oom_killed is false.
//
// Exit: the shim reaps every child; when the init exits it drains output
// until EOF (at most 5 s), flushes partial lines to the log, writes
// <state>/exit.json atomically (exit_record.h), flushes and closes attach
// clients, removes its sockets, runs `<runtime> delete ID` if --cleanup,
// and exits 0.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/fd.h"
#include "shim/frame.h"
#include "shim/line_splitter.h"
#include "shim/log_file.h"
#include "shim/options.h"

namespace berth::shim {

class Shim {
 public:
  explicit Shim(ShimOptions opts);

  // Creates the container and opens the sockets, then starts it. Error's
  // message is what the caller should see (the runtime's stderr verbatim
  // when it failed). Call with the working directory set to the state dir.
  void create();
  void start();
  // Deletes a created container that will not be started.
  void abort();
  pid_t init_pid() const { return init_pid_; }
  // Serves stdio, attach and control until the init has exited and output
  // is drained, then records the exit (see the contract above).
  void run();

 private:
  struct Client {
    UniqueFd fd;
    bool control = false;
    bool read_open = true;
    std::string out;  // bytes not yet written to the client
    std::string in;   // control: partial command line
  };

  void create_container();
  void watch(int fd, uint32_t events);
  void on_signal();
  void on_output(int fd);
  void handle_output(Stream stream, std::string_view data);
  void accept_clients(int listen_fd, bool control);
  void on_client(int fd, uint32_t events);
  void send_to(Client& c, std::string_view data);
  void rearm(Client& c);
  void drop_client(int fd);
  void control_command(Client& c, std::string_view line);
  void queue_stdin(std::string_view data);
  void flush_stdin();
  void close_stdin();
  void close_output(int fd);
  void finish();

  ShimOptions o_;
  pid_t init_pid_ = -1;
  std::string memory_cgroup_;    // "" when the caller named none
  uint64_t oom_kills_at_create_ = 0;
  bool init_exited_ = false;
  int init_status_ = 0;
  struct timespec exited_at_{};

  UniqueFd out_r_, err_r_;  // container stdout/stderr pipes (no tty)
  UniqueFd pty_;            // pty master (tty): output and stdin
  UniqueFd stdin_w_;        // container stdin pipe (no tty, --stdin)
  std::string stdin_buf_;
  bool stdin_close_pending_ = false;

  LineSplitter out_split_, err_split_;
  std::optional<RotatingLog> log_;

  UniqueFd epoll_, sigfd_, attach_listen_, control_listen_;
  std::map<int, uint32_t> watched_;  // fd -> epoll events currently set
  std::map<int, std::unique_ptr<Client>> clients_;
};

}  // namespace berth::shim
