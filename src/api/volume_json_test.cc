#include "api/volume_json.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

using nlohmann::json;

TEST(VolumeJson, DockersShapeWithNullForNoLabelsOrOptions) {
  engine::Volume v;
  v.name = "data";
  v.created_at = "2024-01-02T03:04:05Z";
  v.mountpoint = "/var/lib/berth/volumes/data/_data";
  EXPECT_EQ(volume_json(v), json::parse(R"({"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,
      "Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":null,"Scope":"local"})"));
  v.labels = engine::StringMap{};
  v.options = engine::StringMap{{"type", "tmpfs"}};
  json j = volume_json(v, 42, 2);
  EXPECT_EQ(j["Labels"], json::object()) << "an empty map given at creation shows as {}";
  EXPECT_EQ(j["Options"], json({{"type", "tmpfs"}}));
  EXPECT_EQ(j["UsageData"], json({{"Size", 42}, {"RefCount", 2}}));
}

TEST(VolumeJson, MountPointsOmitNameAndDriverForBinds) {
  engine::MountPoint bind;
  bind.type = "bind";
  bind.source = "/srv";
  bind.destination = "/data";
  bind.mode = "ro";
  bind.rw = false;
  bind.propagation = "rprivate";
  engine::MountPoint vol;
  vol.type = "volume";
  vol.name = "v";
  vol.source = "/var/lib/berth/volumes/v/_data";
  vol.destination = "/v";
  vol.driver = "local";
  vol.mode = "z";
  EXPECT_EQ(mount_points_json({bind, vol}), json::parse(R"([
    {"Type":"bind","Source":"/srv","Destination":"/data","Mode":"ro","RW":false,"Propagation":"rprivate"},
    {"Type":"volume","Name":"v","Source":"/var/lib/berth/volumes/v/_data","Destination":"/v","Driver":"local",
     "Mode":"z","RW":true,"Propagation":""}])"));
}

}  // namespace
}  // namespace berth::api
