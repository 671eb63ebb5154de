// POST /build (docker's classic builder protocol), POST /build/prune and
// POST /build/cancel.
//
// POST /build: the body is the context as a tar (plain or compressed); it is
// unpacked with layer.h's confinement into a private directory under
// <data-root>/builder/tmp while it arrives, then engine::build_image runs
// with docker's query parameters (t, dockerfile, q, nocache, pull, rm,
// forcerm, buildargs, labels, target, networkmode, cachefrom, memory,
// memswap, cpushares, cpusetcpus, cpuperiod, cpuquota, shmsize, extrahosts).
// The answer is docker's JSON stream ({"stream"}, {"aux":{"ID"}},
// {"status"} for a base image being pulled, {"errorDetail":{"code",
// "message"},"error"}); as in dockerd the stream starts with the first
// message, so a failure before any (a bad parameter, a context that is not
// a tar) is a plain HTTP error. version=2 (BuildKit's session protocol) is
// refused with 400. The context directory is removed when the build ends.
// berth's own extension: contextpath=<absolute dir> (advertised by the
// "Berth-Build-Context: path" header of /_ping) builds from that directory
// on this host instead of a tar, accepted only over the unix socket (403
// otherwise); file digests are then remembered across builds (DigestCache).
// And X-Berth-Build-Secrets (base64 of {"id": base64 content}) carries
// `--secret`s for RUN --mount=type=secret; they are never stored.
//
// POST /build/prune: forgets the step cache and removes the images only it
// kept (untagged, no children, no container): {"CachesDeleted","SpaceReclaimed"}.
#pragma once

#include "api/router.h"
#include "engine/distribution.h"
#include "engine/engine.h"

namespace berth::api {

void add_build_routes(Router& router, engine::Engine& eng, engine::Distribution& dist);

}  // namespace berth::api
