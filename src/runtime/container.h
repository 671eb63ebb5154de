// The runtime's operations, one function per runc verb; cmd/berth-runtime
// parses flags and calls these. Each returns the process exit code or throws
// Error with a one-line reason; on failure nothing is left behind (no state
// directory, cgroup or process of a container that failed to create).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "oci/spec.h"
#include "runtime/state_store.h"

namespace berth::runtime {

struct Context {
  StateStore store;
  bool systemd_cgroup = false;
  const Logger* log = nullptr;
};

struct CreateOptions {
  std::string id;
  std::string bundle = ".";
  std::string config_file = "config.json";  // relative to bundle unless absolute
  std::string console_socket;
  std::string pid_file;
  bool no_pivot = false;
  bool no_new_keyring = false;
  int preserve_fds = 0;
  int listen_fds = 0;  // LISTEN_FDS from systemd socket activation; kept after the preserved fds
  // `run` only:
  bool detach = false;
  bool keep = false;
};

// create: returns after the container is "created" (init blocked on exec.fifo).
void create_container(const Context& ctx, const CreateOptions& opts);
// run: create + start; unless detached, waits and returns the exit code.
int run_container(const Context& ctx, const CreateOptions& opts);
void start_container(const Context& ctx, const std::string& id);
nlohmann::json container_state(const Context& ctx, const std::string& id);
void kill_container(const Context& ctx, const std::string& id, int signal, bool all);
void delete_container(const Context& ctx, const std::string& id, bool force);
void pause_container(const Context& ctx, const std::string& id);
void resume_container(const Context& ctx, const std::string& id);
// Applies resources (from flags or -r) and records them.
void update_container(const Context& ctx, const std::string& id, const oci::Resources& res);
std::vector<int> container_pids(const Context& ctx, const std::string& id);
// One `events --stats` object: {"type":"stats","id":...,"data":{...}}.
nlohmann::json container_stats(const Context& ctx, const std::string& id);

struct ExecOptions {
  std::string id;
  std::optional<oci::Process> process;  // --process file, else built from below
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd;
  std::string user;  // "uid[:gid]"
  std::vector<uint32_t> additional_gids;
  std::vector<std::string> caps;
  bool tty = false;
  bool no_new_privs = false;
  bool detach = false;
  std::string console_socket;
  std::string pid_file;
  int preserve_fds = 0;
};

int exec_in_container(const Context& ctx, const ExecOptions& opts);

// Shared by run and exec: waits for a child we started, forwarding signals to
// it; returns its exit code (128+signal when killed).
int wait_forwarding_signals(int pid, int pty_master);

}  // namespace berth::runtime
