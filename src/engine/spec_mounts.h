// The user-supplied mounts of a docker HostConfig — Binds ("src:dst[:mode]"),
// Mounts (the structured API form) and Tmpfs ({dst: "options"}) — turned into
// OCI mounts with docker's options.
//
// Contract (moby volume/mounts linux parser + daemon WithMounts):
// - Binds become {"type":"bind", options ["rbind", "ro"?, <propagation>]},
//   propagation defaulting to "rprivate"; a missing absolute source
//   directory is created on the host, as `docker run -v` does. A source
//   that is not absolute names a volume: Error "volumes are not supported
//   yet".
// - Mounts of type bind need an existing Source (unless
//   BindOptions.CreateMountpoint); type tmpfs takes TmpfsOptions.SizeBytes
//   and Mode; type volume is not supported yet.
// - tmpfs mounts get "noexec,nosuid,nodev,rprivate" followed by the user's
//   options, merged so that later options win (moby's MergeTmpfsOptions).
// - Destinations must be absolute and not "/"; a destination given twice
//   is "Duplicate mount point: <dst>", except that Tmpfs wins over a bind
//   at the same place, as in docker.
// - Errors carry docker's wording ("invalid volume specification: '...'",
//   "invalid mount config for type \"bind\": ...", "invalid mode: ...").
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

// HostConfig.Binds, .Mounts and .Tmpfs, in that order, as OCI mount objects.
std::vector<nlohmann::json> parse_user_mounts(const nlohmann::json& host_config);

// Docker's tmpfs option merge: duplicates and contradictions resolved in
// favour of the later option. Throws on an unknown option.
std::vector<std::string> merge_tmpfs_options(const std::vector<std::string>& options);

// Orders mounts so parents come before children (fewer path components
// first), keeping the given order among equals.
void sort_mounts_by_depth(std::vector<nlohmann::json>* mounts);

}  // namespace berth::engine
