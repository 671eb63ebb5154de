// ShimOptions: everything berth-shim is told on its command line (see
// shim.h for the meaning of each and for the whole protocol).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace berth::shim {

struct ShimOptions {
  std::string id;
  std::string bundle;        // absolute
  std::string runtime;       // runtime binary (absolute path or PATH name)
  std::string runtime_root;  // --root for the runtime; empty: its default
  std::vector<std::string> runtime_args;  // extra global runtime flags, before the verb
  std::string state_dir;     // absolute; holds the shim's sockets and records
  bool terminal = false;
  bool stdin = false;
  bool stdin_once = false;   // an attach client's EOF closes the container's stdin
  std::string log_path;      // json-file log; empty: no log
  uint64_t log_max_size = 0; // bytes; 0: never rotate
  int log_max_file = 1;
  bool cleanup = false;      // `<runtime> delete ID` after the exit is recorded
  int ready_fd = -1;
  int start_fd = -1;         // wait for "start" here between create and start
};

}  // namespace berth::shim
