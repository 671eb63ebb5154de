// Running a helper program and capturing its output.
//
// Contract: the child is started with posix_spawn (safe in a threaded
// daemon: nothing but the three pipes is inherited, as every other fd is
// close-on-exec), stdin is /dev/null unless input is given, and both output
// streams are read (and the input written) concurrently, so a chatty child
// cannot deadlock on a full pipe.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace berth {

struct ProcessResult {
  int exit_code = 0;  // exit status, or 128+signal
  std::string out, err;
  bool ok() const { return exit_code == 0; }
};

// Starts argv with posix_spawn: fds[i] becomes the child's descriptor i
// (dup2 clears close-on-exec on that copy only); -1 gives /dev/null for
// 0..2. The signal mask is cleared. PATH lookup when search_path. Returns
// the pid; Error if it cannot be started.
pid_t spawn_process(const std::vector<std::string>& argv, const std::vector<int>& fds, bool search_path = false);

// Runs argv (PATH lookup for argv[0]); Error only if it cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv);
// The same with stdin_data fed to the child's stdin, which is then closed.
// A child that exits without reading all of it is not an error (and cannot
// raise SIGPIPE in the caller).
ProcessResult run_process(const std::vector<std::string>& argv, std::string_view stdin_data);

// Runs argv and returns its stdout; Error "<argv>: <stderr or status>" if it
// exits non-zero.
std::string run_capture(const std::vector<std::string>& argv);

}  // namespace berth
