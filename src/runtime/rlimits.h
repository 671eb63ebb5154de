// Resource limits (process.rlimits).
//
// Contract: parse_rlimits() maps "RLIMIT_NOFILE" etc. to resource numbers and
// rejects unknown types and soft > hard. apply_rlimits() runs in the
// container process before privileges are dropped. Where the host forbids
// raising a hard limit (no CAP_SYS_RESOURCE in the bounding set, as on some
// CI hosts), the limit is clamped to the current hard limit instead of
// failing the container: podman's defaults would otherwise never run there.
#pragma once

#include <sys/resource.h>

#include <string>
#include <vector>

#include "oci/spec.h"

namespace berth::runtime {

struct ResolvedRlimit {
  int resource = 0;
  struct rlimit limit {};
};

std::vector<ResolvedRlimit> parse_rlimits(const std::vector<oci::Rlimit>& in);
// Returns 0 or -errno of the first limit that could not be set even clamped.
int apply_rlimits(const std::vector<ResolvedRlimit>& limits);

}  // namespace berth::runtime
