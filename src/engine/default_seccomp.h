// Docker's seccomp profiles: the built-in default profile, and the
// conversion of any profile in docker's format (what `--security-opt
// seccomp=profile.json` sends) into the OCI runtime spec's linux.seccomp.
//
// Contract:
// - docker_default_seccomp_profile() has the semantics of moby's
//   profiles/seccomp/default.json: EPERM by default, a large allow list,
//   rules that apply only with a capability, an architecture or a minimum
//   kernel, and namespace-creating clone() flags refused without
//   CAP_SYS_ADMIN (clone3 answers ENOSYS so libcs fall back to clone).
// - seccomp_profile_to_oci() applies moby's filtering: a rule is kept when
//   every capability in includes.caps is in `caps` (the bounding set), its
//   includes.arches names the host's Go architecture, and the kernel is at
//   least includes.minKernel; excludes.* drop it on any match. archMap
//   entries for the host's native architecture become "architectures".
//   Returns null when the profile has neither defaultAction nor syscalls
//   (docker treats that as unconfined). Malformed profiles fail with
//   docker's messages ("Decoding seccomp profile failed: ...").
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

nlohmann::json docker_default_seccomp_profile();

// The host facts filtering depends on; current() reads uname(2).
struct SeccompHost {
  std::string go_arch;      // "amd64", as docker profiles name arches
  std::string native_arch;  // "SCMP_ARCH_X86_64", as archMap names them
  int kernel_major = 0, kernel_minor = 0;
  static SeccompHost current();
};

nlohmann::json seccomp_profile_to_oci(const nlohmann::json& docker_profile, const std::vector<std::string>& caps);
nlohmann::json seccomp_profile_to_oci(const nlohmann::json& docker_profile, const std::vector<std::string>& caps,
                                      const SeccompHost& host);

// Parses a profile's JSON text (the value of "seccomp=<json>").
nlohmann::json parse_seccomp_profile(const std::string& text);

}  // namespace berth::engine
