// Network endpoints of the Engine API: GET /networks (filters dangling,
// driver, id, label, name, scope, type), GET /networks/{id}, POST
// /networks/create, DELETE /networks/{id}, POST /networks/{id}/connect and
// /disconnect, POST /networks/prune (filters label, label!, until).
// Shapes and status codes as dockerd's; the work is the engine's.
#pragma once

#include "api/router.h"
#include "engine/engine.h"

namespace berth::api {

void add_network_routes(Router& router, engine::Engine& eng);

}  // namespace berth::api
