// berth-runtime verbs: each file registers one runc-compatible subcommand.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "base/log.h"
#include "runtime/container.h"

namespace berth::cmd {

struct Globals {
  std::string root = "/run/berth-runtime";
  std::string log_path;
  std::string log_format = "text";
  bool debug = false;
  bool systemd_cgroup = false;
  Logger log{"berth-runtime"};

  runtime::Context context() const { return runtime::Context{runtime::StateStore(root), systemd_cgroup, &log}; }
};

// Each sets the subcommand's callback, which stores the exit code in *code.
void add_create(CLI::App& app, Globals& g, int* code);
void add_run(CLI::App& app, Globals& g, int* code);
void add_start(CLI::App& app, Globals& g, int* code);
void add_state(CLI::App& app, Globals& g, int* code);
void add_kill(CLI::App& app, Globals& g, int* code);
void add_delete(CLI::App& app, Globals& g, int* code);
void add_exec(CLI::App& app, Globals& g, int* code);
void add_list(CLI::App& app, Globals& g, int* code);
void add_ps(CLI::App& app, Globals& g, int* code);
void add_pause_resume(CLI::App& app, Globals& g, int* code);
void add_update(CLI::App& app, Globals& g, int* code);
void add_features(CLI::App& app, Globals& g, int* code);
void add_spec(CLI::App& app, Globals& g, int* code);
void add_events(CLI::App& app, Globals& g, int* code);

// Adds the flags create and run share.
void add_create_flags(CLI::App* sub, runtime::CreateOptions& o);
// Prints JSON to stdout, followed by a newline.
void print_json(const nlohmann::json& j, bool pretty);

}  // namespace berth::cmd
