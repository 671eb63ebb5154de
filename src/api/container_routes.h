// Container and exec endpoints of the Engine API (/containers/*, /exec/*),
// translating requests into engine::Engine calls and its records into
// dockerd's JSON (container_json.h). Engine errors map to dockerd's status
// codes in Router (404 not found, 409 conflict, 400 invalid, 304 no-op).
#pragma once

#include "api/router.h"
#include "engine/engine.h"

namespace berth::api {

void add_container_routes(Router& router, engine::Engine& engine);
void add_exec_routes(Router& router, engine::Engine& engine);

}  // namespace berth::api
