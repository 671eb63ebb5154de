// Image endpoints of the Engine API: /images/json, /images/{name}/json,
// history, tag, DELETE, prune, /images/create?fromSrc (import),
// /images/load, /images/get and /images/{name}/get (docker-archive),
// /commit, and /system/df. JSON in dockerd's shapes (API 1.41).
//
// Parent links (ImageStore) behave as in dockerd: untagged images with
// children (build steps) are listed only with ?all, cannot be deleted by ID
// while they have children (not even forced), and go with the last image
// built on them: DELETE (unless ?noprune) and prune remove untagged parents
// that nothing else holds, each reported as {"Deleted": id}.
//
// Uploaded bodies (import, load) are streamed to an unlinked temp file in
// the data root first, so a client that disconnects mid-upload leaves
// nothing behind and the image code reads a seekable fd.
#pragma once

#include "api/router.h"
#include "engine/distribution.h"
#include "engine/engine.h"

namespace berth::api {

// POST /images/create with fromImage is a pull, served by dist.
void add_image_routes(Router& router, engine::Engine& engine, engine::Distribution& dist);

}  // namespace berth::api
