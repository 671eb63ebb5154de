#include "api/volume_json.h"

namespace berth::api {

using nlohmann::json;

json volume_json(const engine::Volume& v) {
  return {{"CreatedAt", v.created_at},
          {"Driver", v.driver},
          {"Labels", v.labels ? json(*v.labels) : json(nullptr)},
          {"Mountpoint", v.mountpoint},
          {"Name", v.name},
          {"Options", v.options ? json(*v.options) : json(nullptr)},
          {"Scope", "local"}};
}

json volume_json(const engine::Volume& v, int64_t size, int64_t ref_count) {
  json j = volume_json(v);
  j["UsageData"] = {{"Size", size}, {"RefCount", ref_count}};
  return j;
}

json mount_point_json(const engine::MountPoint& m) {
  json j = {{"Type", m.type},  {"Source", m.source}, {"Destination", m.destination},
            {"Mode", m.mode},  {"RW", m.rw},         {"Propagation", m.propagation}};
  // omitempty in docker's struct
  if (!m.name.empty()) j["Name"] = m.name;
  if (!m.driver.empty()) j["Driver"] = m.driver;
  return j;
}

json mount_points_json(const std::vector<engine::MountPoint>& points) {
  json out = json::array();
  for (const auto& m : points) out.push_back(mount_point_json(m));
  return out;
}

}  // namespace berth::api
