// Container file-system endpoints of the Engine API, as dockerd serves them:
// HEAD/GET/PUT /containers/{name}/archive (docker cp), GET
// /containers/{name}/export, GET /containers/{name}/changes (docker diff)
// and POST /commit.
//
// Contract: the logic lives in engine/container_fs.h, container_changes.h
// and commit.h; these handlers parse parameters, stream bodies and map
// results to dockerd's responses: the X-Docker-Container-Path-Stat header
// (base64 of the path-stat JSON) on HEAD and GET archive, tars streamed as
// application/x-tar, uploads streamed into the extraction (never held in
// memory), changes as [{"Path","Kind"}] or null, commit as 201 {"Id"}.
#pragma once

#include "api/router.h"
#include "engine/engine.h"

namespace berth::api {

void add_archive_routes(Router& router, engine::Engine& engine);

}  // namespace berth::api
