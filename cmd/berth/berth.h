// Shared plumbing for berth's verbs: the context every verb gets, the
// Command helper that parses docker-style flags and checks argument counts,
// and small daemon look-ups several verbs need.
//
// Contract: a verb is `int verb(Context&, const Args&)`; it returns the exit
// status or throws (berth::Error -> message on stderr, status 1; UsageError
// -> docker's usage hint, status 125 or 1; HelpShown -> status 0). main.cc
// maps verb names, management-command spellings ("container ls") and
// aliases onto these functions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "cli/flags.h"

namespace berth::cmd {

using Args = std::vector<std::string>;
using nlohmann::json;

struct Context {
  std::string host;          // daemon URL
  std::string path;          // "berth run": the command as typed, for messages
  std::string usage;         // "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"
  std::unique_ptr<cli::ApiClient> client;
  cli::ApiClient& api() {
    if (!client) client = std::make_unique<cli::ApiClient>(host);
    return *client;
  }
};

struct HelpShown {};

// One verb's flags: parse() handles --help (prints usage, throws HelpShown)
// and records the usage line in the context for error messages.
class Command {
 public:
  Command(Context& ctx, std::string usage_tail, std::string description);
  cli::FlagSet flags;
  Args parse(const Args& args);
  // Docker's "requires at least/exactly/at most N argument(s)" (status 1).
  void at_least(const Args& pos, size_t n) const;
  void exactly(const Args& pos, size_t n) const;
  void at_most(const Args& pos, size_t n) const;
  void no_args(const Args& pos) const;

 private:
  Context& ctx_;
  std::string description_;
};

// Runs fn(target) for each target; a failure prints its message on stderr
// and makes the result 1 (docker reports every failing target, then exits 1).
int for_each_target(const Args& targets, const std::function<void(const std::string&)>& fn);

int64_t now_seconds();
int64_t now_nanos();
bool stdout_is_terminal();

// docker's repeated --filter key=value as the API's {"key":{"value":true}}.
json filters_json(const std::vector<std::string>& filters);

// GET /containers/{id}/json.
json inspect_container(Context& ctx, const std::string& id);

// Verbs.
int cmd_version(Context&, const Args&);
int cmd_info(Context&, const Args&);
int cmd_events(Context&, const Args&);
int cmd_system_df(Context&, const Args&);
int cmd_system_prune(Context&, const Args&);
int cmd_builder_prune(Context&, const Args&);
int cmd_images(Context&, const Args&);
int cmd_tag(Context&, const Args&);
int cmd_rmi(Context&, const Args&);
int cmd_history(Context&, const Args&);
int cmd_image_prune(Context&, const Args&);
int cmd_import(Context&, const Args&);
int cmd_load(Context&, const Args&);
int cmd_save(Context&, const Args&);
int cmd_pull(Context&, const Args&);
int cmd_push(Context&, const Args&);
int cmd_login(Context&, const Args&);
int cmd_logout(Context&, const Args&);
int cmd_search(Context&, const Args&);
int cmd_inspect(Context&, const Args&);
int cmd_container_inspect(Context&, const Args&);
int cmd_image_inspect(Context&, const Args&);
int cmd_create(Context&, const Args&);
int cmd_run(Context&, const Args&);
int cmd_start(Context&, const Args&);
int cmd_attach(Context&, const Args&);
int cmd_stop(Context&, const Args&);
int cmd_kill(Context&, const Args&);
int cmd_restart(Context&, const Args&);
int cmd_pause(Context&, const Args&);
int cmd_unpause(Context&, const Args&);
int cmd_rm(Context&, const Args&);
int cmd_wait(Context&, const Args&);
int cmd_rename(Context&, const Args&);
int cmd_update(Context&, const Args&);
int cmd_container_prune(Context&, const Args&);
int cmd_ps(Context&, const Args&);
int cmd_logs(Context&, const Args&);
int cmd_exec(Context&, const Args&);
int cmd_top(Context&, const Args&);
int cmd_port(Context&, const Args&);
int cmd_diff(Context&, const Args&);
int cmd_stats(Context&, const Args&);
int cmd_cp(Context&, const Args&);
int cmd_export(Context&, const Args&);
int cmd_commit(Context&, const Args&);
int cmd_network_create(Context&, const Args&);
int cmd_network_ls(Context&, const Args&);
int cmd_network_inspect(Context&, const Args&);
int cmd_network_rm(Context&, const Args&);
int cmd_network_connect(Context&, const Args&);
int cmd_network_disconnect(Context&, const Args&);
int cmd_network_prune(Context&, const Args&);
int cmd_volume_create(Context&, const Args&);
int cmd_volume_ls(Context&, const Args&);
int cmd_volume_inspect(Context&, const Args&);
int cmd_volume_rm(Context&, const Args&);
int cmd_volume_prune(Context&, const Args&);
int cmd_build(Context&, const Args&);

}  // namespace berth::cmd
