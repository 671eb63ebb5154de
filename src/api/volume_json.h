// The Engine API's JSON views of volumes and of a container's mount
// points, in dockerd's shapes: volume.Volume (GET /volumes, inspect, create)
// and types.MountPoint (the "Mounts" of container inspect and list).
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/spec_mounts.h"
#include "engine/volume_store.h"

namespace berth::api {

// CreatedAt, Driver, Labels, Mountpoint, Name, Options, Scope; Labels and
// Options are null when the volume was created without any.
nlohmann::json volume_json(const engine::Volume& v);
// The same with UsageData {Size, RefCount}, as system df reports it.
nlohmann::json volume_json(const engine::Volume& v, int64_t size, int64_t ref_count);
// Type, Name and Driver (volumes only), Source, Destination, Mode, RW, Propagation.
nlohmann::json mount_point_json(const engine::MountPoint& m);
nlohmann::json mount_points_json(const std::vector<engine::MountPoint>& points);

}  // namespace berth::api
