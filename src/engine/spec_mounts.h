// The mounts a container asks for — HostConfig.Binds ("src:dst[:mode]"),
// .Mounts (the structured API form), .Tmpfs ({dst: "options"}), the
// VolumesFrom containers' mount points and the image's VOLUMEs — as docker's
// mount points (what inspect shows as "Mounts") and as OCI mounts.
//
// Contract (moby volume/mounts linux parser, daemon registerMountPoints,
// createContainerOSSpecificSettings and WithMounts):
// - plan_mount_points() is registerMountPoints without its side effects:
//   the inherited (VolumesFrom) points, then Binds, then Mounts, each later
//   one replacing an earlier one at the same destination, except that two
//   Binds/Mounts at one destination, or a Bind where a Tmpfs is, are
//   "Duplicate mount point: <dst>"; then an anonymous volume for every
//   Config.Volumes path nothing (Tmpfs included) covers yet. Volumes come out
//   unresolved: name empty for an anonymous one, source empty; the engine
//   creates them. A Bind or Mount naming a volume gets Mode "z" when it has
//   none (docker's setBindModeIfNull for the local driver).
// - A bind's missing source: "-v" creates it when the container starts
//   (recorded as BindOptions.CreateMountpoint); --mount refuses it at once
//   unless BindOptions.CreateMountpoint.
// - parse_user_mounts() turns a HostConfig into OCI mounts: binds get
//   ["rbind"|"bind", "ro"?, <propagation, default rprivate>] (a "-v" or
//   CreateMountpoint source is created here), tmpfs gets
//   "noexec,nosuid,nodev,rprivate" merged with the user's options (later
//   wins, moby's MergeTmpfsOptions), and a Tmpfs wins over a bind at the same
//   destination. Volumes it cannot resolve: they come out as
//   {"type":"volume","source":<name>} for callers that only look at
//   destinations; host_config_for_spec() gives a HostConfig without any.
// - Errors carry docker's wording ("invalid volume specification: '...'",
//   "invalid mount config for type \"bind\": ...", "invalid mode: ...").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

// One of a container's mount points, as docker's container.MountPoint.
struct MountPoint {
  std::string type;         // "bind", "volume" or "tmpfs"
  std::string name;         // volumes: the volume's name
  std::string source;       // binds: the host path; volumes: the volume's data directory
  std::string destination;  // absolute and clean
  std::string driver;       // volumes: the volume driver ("local")
  std::string mode;         // docker's Mode: the "-v" mode string, "z" for named volumes
  bool rw = true;
  std::string propagation;  // binds: "rprivate" unless given
  // Volumes: fill the volume from the image's content at the destination
  // when it is empty, at the container's first start.
  bool copy_data = false;
  // The request it came from, as a HostConfig.Mounts entry (Type, Source,
  // Target, ReadOnly, BindOptions, VolumeOptions, TmpfsOptions). A volume
  // whose Spec has no Source was created anonymous for this container.
  nlohmann::json spec = nlohmann::json::object();

  bool anonymous_volume() const { return type == "volume" && spec.value("Source", "").empty(); }
};

// Berth's record of a mount point (nlohmann's conversions; round-trips every field).
void to_json(nlohmann::json& j, const MountPoint& m);
void from_json(const nlohmann::json& j, MountPoint& m);

// "<container>[:ro|:rw]" of HostConfig.VolumesFrom: the container reference
// and whether its mount points stay writable.
std::pair<std::string, bool> parse_volumes_from(const std::string& spec);

// A VolumesFrom container's mount point as the new container gets it: the
// same volume or path, read-only if either says so, no Mode, no copy.
MountPoint inherit_mount_point(const MountPoint& m, bool rw);

// See the contract. config: the merged container Config (its "Volumes").
std::vector<MountPoint> plan_mount_points(const nlohmann::json& config, const nlohmann::json& host_config,
                                          const std::vector<MountPoint>& inherited);

// host_config with Binds dropped and Mounts replaced by the resolved mount
// points — volumes as binds of their data directories — so that
// parse_user_mounts() of the result mounts exactly them. Points a Tmpfs
// covers are left out (the Tmpfs wins, as in docker's WithMounts).
nlohmann::json host_config_for_spec(const nlohmann::json& host_config, const std::vector<MountPoint>& points);

// HostConfig.Binds, .Mounts and .Tmpfs, in that order, as OCI mount objects.
std::vector<nlohmann::json> parse_user_mounts(const nlohmann::json& host_config);

// Docker's tmpfs option merge: duplicates and contradictions resolved in
// favour of the later option. Throws on an unknown option.
std::vector<std::string> merge_tmpfs_options(const std::vector<std::string>& options);

// Orders mounts so parents come before children (fewer path components
// first), keeping the given order among equals.
void sort_mounts_by_depth(std::vector<nlohmann::json>* mounts);

}  // namespace berth::engine
