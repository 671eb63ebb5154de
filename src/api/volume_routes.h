// Volume endpoints of the Engine API: GET /volumes (filters dangling,
// driver, label, name), POST /volumes/create, GET /volumes/{name}, DELETE
// /volumes/{name} (force: a missing volume is no error), POST
// /volumes/prune (filters label, label!, all; before API 1.42 every unused
// volume, from 1.42 only anonymous ones unless all=true). Shapes, status
// codes and messages as dockerd's; the work is the engine's VolumeStore.
#pragma once

#include <nlohmann/json.hpp>

#include "api/router.h"
#include "engine/engine.h"

namespace berth::api {

void add_volume_routes(Router& router, engine::Engine& eng);

// GET /system/df's "Volumes": local volumes without driver options, each
// with UsageData {Size, RefCount}, as dockerd's LocalVolumesSize.
nlohmann::json volumes_disk_usage(engine::Engine& eng);

}  // namespace berth::api
