// The OCI runtime spec (config.json) for a docker container: what moby's
// daemon/oci_linux.go builds from a container's Config and HostConfig.
//
// Contract:
// - merge_image_config() is docker's create-time merge of the image's config
//   into the container's (the .Config that inspect reports): Env by key with
//   the container winning (its entries first), User, WorkingDir,
//   StopSignal, Labels and Healthcheck fields filled from the image, and the
//   Cmd/Entrypoint rule: an Entrypoint given at create drops the image's Cmd
//   unless Cmd is given too; Entrypoint [""] resets the image's Entrypoint.
//   Fails "No command specified" when neither remains.
// - build_oci_spec() merges, then produces docker's spec: default mounts,
//   the engine's /etc/{resolv.conf,hostname,hosts}, user mounts (see
//   spec_mounts.h), namespaces, cgroupsPath <CgroupParent or default>/<id>,
//   resources and devices (spec_resources.h), capabilities (docker_caps.h),
//   the user resolved inside the rootfs (user_lookup.h), seccomp
//   (default_seccomp.h), masked/read-only paths, sysctls, rlimits, and
//   HostConfig.Init. Bad input fails with docker's message. It reads the
//   rootfs's /etc/passwd and /etc/group and may create missing bind sources
//   (docker -v does); it writes nothing else.
// - NetworkMode "container:<id>" and bridge networks join in.netns_path,
//   which the engine prepared; other namespaces of another container
//   ("container:<id>" for IPC/PID/UTS) are not supported yet and fail
//   saying so.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/default_seccomp.h"

namespace berth::engine {

struct SpecInputs {
  std::string id;                  // 64-hex container id
  nlohmann::json config;           // docker ContainerConfig as POSTed to /containers/create (raw)
  nlohmann::json host_config;      // docker HostConfig
  nlohmann::json image_config;     // the image config's "config" object; may be null
  std::string rootfs;              // absolute path of the mounted rootfs
  std::string hosts_path, hostname_path, resolv_conf_path;  // bind-mounted like docker; empty: left out
  std::string shm_path;            // host dir bound at /dev/shm; empty: tmpfs of ShmSize (default 64m)
  std::string init_path;           // host binary bound at /sbin/docker-init for HostConfig.Init
  std::string netns_path;          // the network namespace to join (bridge networks, container:<id>); empty: by NetworkMode
  std::string cgroup_parent_default = "/berth";
};

// Facts about the host the spec depends on; probe() reads the running system.
struct SpecHost {
  bool swap_limit = true;         // the memory cgroup can limit swap
  bool cgroup2_unified = false;   // pure cgroup v2: docker's default cgroupns is private
  bool ping_group_range = true;   // /proc/sys/net/ipv4/ping_group_range exists
  bool unprivileged_port_start = true;  // /proc/sys/net/ipv4/ip_unprivileged_port_start exists
  std::string hostname;           // the host's, for NetworkMode "host"
  SeccompHost seccomp;
  static SpecHost probe();
};

nlohmann::json merge_image_config(const nlohmann::json& image_config, const nlohmann::json& create_config);

// The container's hostname: Config.Hostname, else the host's for
// NetworkMode "host", else the first 12 characters of the id.
std::string effective_hostname(const SpecInputs& in, const SpecHost& host);

nlohmann::json build_oci_spec(const SpecInputs& in);
nlohmann::json build_oci_spec(const SpecInputs& in, const SpecHost& host);

}  // namespace berth::engine
