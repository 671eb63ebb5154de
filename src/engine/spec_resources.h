// Docker's HostConfig resource settings (memory, CPU, pids, block I/O),
// devices and ulimits, turned into the OCI spec's linux.resources,
// linux.devices and process.rlimits.
//
// Contract (moby daemon/oci_linux.go WithResources / WithDevices /
// WithRlimits and the create-time checks of daemon_unix.go):
// - Memory with no MemorySwap gets swap = 2 * Memory, as docker does, unless
//   the host cannot limit swap; MemorySwap -1 means unlimited (no swap
//   limit written). Zero values mean "not set" and are left out.
// - NanoCpus becomes period 100000 and quota NanoCpus * period / 1e9.
// - PidsLimit 0 or negative means unlimited (-1).
// - Invalid values fail with docker's messages ("Minimum memory limit
//   allowed is 6MB", "Conflicting options: Nano CPUs and CPU Period cannot
//   both be set", "invalid ulimit type: foo", ...).
// - Devices: docker's default cgroup rules (deny all; allow zero, null,
//   urandom, random, tty, console; deny fuse), then HostConfig.Devices
//   (objects, or "host[:container][:rwm]" strings) resolved on the host, then
//   DeviceCgroupRules. Privileged: every host device under /dev and "allow
//   all".
#pragma once

#include <nlohmann/json.hpp>

namespace berth::engine {

// linux.resources without "devices".
nlohmann::json docker_resources(const nlohmann::json& host_config, bool host_limits_swap);

struct DeviceSetup {
  nlohmann::json devices = nlohmann::json::array();       // linux.devices
  nlohmann::json cgroup_rules = nlohmann::json::array();  // linux.resources.devices
};
DeviceSetup docker_devices(const nlohmann::json& host_config, bool privileged);

// process.rlimits from HostConfig.Ulimits (empty array when none).
nlohmann::json docker_rlimits(const nlohmann::json& host_config);

}  // namespace berth::engine
