// The flags `run` and `create` share, and the Engine API body they become
// (docker's cli/command/container/opts.go).
//
// Contract: add_container_flags() registers the flags on a FlagSet;
// container_config() turns the parsed flags and positionals (IMAGE
// [COMMAND] [ARG...]) into the POST /containers/create body ({Config fields,
// "HostConfig": ..., "NetworkingConfig": ...}), resolving `-e NAME` and
// --env-file against `lookup_env`. Invalid values throw berth::Error worded
// as docker words them ("invalid argument \"x\" for \"-m, --memory\" flag:
// ..."); a malformed flag value (--network, --link) throws UsageError, as
// pflag rejects it. Networking (--network and its companions, -p, --expose)
// follows cli/network_options.h. Nothing here talks to the daemon.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/flags.h"

namespace berth::cli {

void add_container_flags(FlagSet& flags);

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
nlohmann::json container_config(const FlagSet& flags, const std::vector<std::string>& positionals,
                                 const EnvLookup& lookup_env);

// Reads a docker env file ("K=V" lines, "#" comments, bare "K" taken from
// the environment when set).
std::vector<std::string> read_env_file(const std::string& path, const EnvLookup& lookup_env);


}  // namespace berth::cli
