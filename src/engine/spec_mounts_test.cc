#include "engine/spec_mounts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"

namespace berth::engine {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SpecMounts, BindsWithModes) {
  test::TempDir dir;
  auto ms = parse_user_mounts({{"Binds", {dir.path() + ":/data", dir.path() + "/new:/ro:ro,Z", dir.path() + ":/s:rshared"}}});
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_EQ(ms[0], json({{"destination", "/data"}, {"type", "bind"}, {"source", dir.path()}, {"options", {"rbind", "rprivate"}}}));
  EXPECT_EQ(ms[1]["options"], json({"rbind", "ro", "rprivate"}));
  EXPECT_TRUE(path_exists(dir / "new")) << "docker -v creates a missing source directory";
  EXPECT_EQ(ms[2]["options"], json({"rbind", "rshared"}));
}

TEST(SpecMounts, BindErrorsAreDockers) {
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Binds", {"/a:/b:/c:/d"}}}); }), "invalid volume specification: '/a:/b:/c:/d'");
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Binds", {"/tmp:/b:bogus"}}}); }), "invalid mode: bogus");
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Binds", {"/tmp:rel"}}}); }),
            "invalid volume specification: '/tmp:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' "
            "mount path must be absolute");
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Binds", {"/tmp:/"}}}); }),
            "invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": invalid specification: "
            "destination can't be '/'");
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Binds", {"/tmp:ro"}}}); }), "invalid volume specification: '/tmp:ro'");
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Binds", {"/tmp:/x:nocopy"}}}); }),
            "invalid volume specification: '/tmp:/x:nocopy': invalid mount config for type \"bind\": field "
            "VolumeOptions must not be specified");
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Binds", {"/tmp:/x", "/var:/x"}}}); }), "Duplicate mount point: /x");
}

TEST(SpecMounts, ApiMounts) {
  test::TempDir dir;
  json hc = {{"Mounts",
              {{{"Type", "bind"}, {"Source", dir.path()}, {"Target", "/b"}, {"ReadOnly", true},
                {"BindOptions", {{"Propagation", "rslave"}, {"NonRecursive", true}}}},
               {{"Type", "tmpfs"}, {"Target", "/t"}, {"TmpfsOptions", {{"SizeBytes", 64 << 20}, {"Mode", 01770}}}}}}};
  auto ms = parse_user_mounts(hc);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0]["options"], json({"bind", "ro", "rslave"}));
  EXPECT_EQ(ms[1], json({{"destination", "/t"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                         {"options", {"noexec", "nosuid", "nodev", "rprivate", "mode=1770", "size=64m"}}}));
}

TEST(SpecMounts, ApiMountErrors) {
  auto err = [](json m) { return error_of([&] { parse_user_mounts({{"Mounts", {m}}}); }); };
  EXPECT_EQ(err({{"Type", "bind"}, {"Source", "/definitely/not/here"}, {"Target", "/x"}}),
            "invalid mount config for type \"bind\": bind source path does not exist: /definitely/not/here");
  EXPECT_EQ(err({{"Type", "bind"}, {"Target", "/x"}}), "invalid mount config for type \"bind\": field Source must not be empty");
  EXPECT_EQ(err({{"Type", "bind"}, {"Source", "/tmp"}}), "invalid mount config for type \"bind\": field Target must not be empty");
  EXPECT_EQ(err({{"Type", "tmpfs"}, {"Source", "/tmp"}, {"Target", "/x"}}),
            "invalid mount config for type \"tmpfs\": field Source must not be specified");
  EXPECT_EQ(err({{"Type", "volume"}, {"Target", "/x"}, {"ReadOnly", true}}),
            "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes");
  EXPECT_EQ(err({{"Type", "volume"}, {"Source", "v"}, {"Target", "/x"}, {"BindOptions", {{"Propagation", "shared"}}}}),
            "invalid mount config for type \"volume\": field BindOptions must not be specified");
  EXPECT_EQ(err({{"Type", "weird"}, {"Target", "/x"}}), "invalid mount config for type \"weird\": mount type unknown");
}

TEST(SpecMounts, TmpfsMapMergesOptions) {
  auto ms = parse_user_mounts({{"Tmpfs", {{"/run", "rw,exec,size=64m"}, {"/tmp", ""}}}});
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0]["destination"], "/run");
  EXPECT_EQ(ms[0]["options"], json({"nosuid", "nodev", "rprivate", "rw", "exec", "size=64m"}));
  EXPECT_EQ(ms[1]["options"], json({"noexec", "nosuid", "nodev", "rprivate"}));
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Tmpfs", {{"/run", "bogus"}}}}); }), "invalid tmpfs option \"bogus\"");
}

TEST(SpecMounts, TmpfsWinsOverBindAtSamePlace) {
  auto ms = parse_user_mounts({{"Binds", {"/tmp:/run"}}, {"Tmpfs", {{"/run", ""}}}});
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0]["type"], "tmpfs");
}

TEST(SpecMounts, MergeTmpfsOptionsLaterWins) {
  EXPECT_EQ(merge_tmpfs_options({"noexec", "size=1m", "exec", "size=2m", "defaults", "rshared", "rprivate"}),
            std::vector<std::string>({"exec", "size=2m", "rprivate"}));
}

TEST(SpecMounts, SortByDepthIsStable) {
  std::vector<json> ms = {{{"destination", "/a/b/c"}}, {{"destination", "/x"}}, {{"destination", "/a/b"}},
                          {{"destination", "/a"}}};
  sort_mounts_by_depth(&ms);
  EXPECT_EQ(ms[0]["destination"], "/x");
  EXPECT_EQ(ms[1]["destination"], "/a");
  EXPECT_EQ(ms[2]["destination"], "/a/b");
  EXPECT_EQ(ms[3]["destination"], "/a/b/c");
}

}  // namespace
}  // namespace berth::engine

namespace berth::engine {
namespace {

using nlohmann::json;

std::string plan_error(const json& config, const json& hc, const std::vector<MountPoint>& inherited = {}) {
  try {
    plan_mount_points(config, hc, inherited);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const MountPoint& at(const std::vector<MountPoint>& ps, const std::string& dst) {
  for (const auto& p : ps)
    if (p.destination == dst) return p;
  throw Error("no mount point at " + dst);
}

TEST(PlanMountPoints, BindsAndVolumesAsDockerRecordsThem) {
  test::TempDir dir;
  auto ps = plan_mount_points(json::object(),
                              {{"Binds", {dir.path() + ":/h:ro", "data:/data", "/anon", "nc:/nc:nocopy,ro"}}}, {});
  ASSERT_EQ(ps.size(), 4u);
  const MountPoint& h = at(ps, "/h");
  EXPECT_EQ(h.type, "bind");
  EXPECT_EQ(h.source, dir.path());
  EXPECT_EQ(h.mode, "ro");
  EXPECT_FALSE(h.rw);
  EXPECT_EQ(h.propagation, "rprivate");
  const MountPoint& data = at(ps, "/data");
  EXPECT_EQ(data.type, "volume");
  EXPECT_EQ(data.name, "data");
  EXPECT_EQ(data.source, "") << "created by the engine";
  EXPECT_EQ(data.mode, "z") << "docker's setBindModeIfNull for named local volumes";
  EXPECT_TRUE(data.rw);
  EXPECT_TRUE(data.copy_data);
  EXPECT_EQ(data.propagation, "");
  EXPECT_FALSE(data.anonymous_volume());
  const MountPoint& anon = at(ps, "/anon");
  EXPECT_EQ(anon.name, "");
  EXPECT_TRUE(anon.anonymous_volume());
  const MountPoint& nc = at(ps, "/nc");
  EXPECT_FALSE(nc.copy_data);
  EXPECT_FALSE(nc.rw);
  EXPECT_EQ(nc.mode, "nocopy,ro");
}

TEST(PlanMountPoints, ApiMountsOfEveryType) {
  json hc = json::parse(R"({"Mounts": [
    {"Type": "volume", "Source": "v1", "Target": "/v",
     "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"},
                       "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}},
    {"Type": "volume", "Target": "/anon"},
    {"Type": "bind", "Source": "/", "Target": "/b", "BindOptions": {"Propagation": "rslave"}},
    {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576}}]})");
  auto ps = plan_mount_points(json::object(), hc, {});
  ASSERT_EQ(ps.size(), 4u);
  EXPECT_EQ(at(ps, "/v").driver, "local");
  EXPECT_FALSE(at(ps, "/v").copy_data);
  EXPECT_EQ(at(ps, "/v").mode, "z");
  EXPECT_EQ(at(ps, "/v").spec["VolumeOptions"]["Labels"]["a"], "b") << "kept for the volume's creation";
  EXPECT_TRUE(at(ps, "/anon").anonymous_volume());
  EXPECT_EQ(at(ps, "/b").propagation, "rslave");
  EXPECT_EQ(at(ps, "/b").mode, "");
  EXPECT_EQ(at(ps, "/t").type, "tmpfs");
  EXPECT_EQ(at(ps, "/t").source, "");
  EXPECT_TRUE(at(ps, "/t").rw);
}

TEST(PlanMountPoints, ImageVolumesFillWhatNothingElseCovers) {
  json config = {{"Volumes", {{"/data", json::object()}, {"/logs/", json::object()}, {"/t", json::object()}}}};
  auto ps = plan_mount_points(config, {{"Binds", {"named:/data"}}, {"Tmpfs", {{"/t", ""}}}}, {});
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(at(ps, "/data").name, "named") << "the bind wins over the image's VOLUME";
  const MountPoint& logs = at(ps, "/logs");
  EXPECT_TRUE(logs.anonymous_volume());
  EXPECT_EQ(logs.mode, "") << "docker leaves image volumes without a mode";
  EXPECT_TRUE(logs.copy_data);
  EXPECT_EQ(plan_error({{"Volumes", {{"rel", json::object()}}}}, json::object()),
            "invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute");
}

TEST(PlanMountPoints, VolumesFromAreInheritedAndOverridable) {
  MountPoint v;
  v.type = "volume";
  v.name = "shared";
  v.source = "/var/lib/berth/volumes/shared/_data";
  v.destination = "/data";
  v.driver = "local";
  v.mode = "z";
  v.spec = {{"Type", "volume"}, {"Source", "shared"}, {"Target", "/data"}};
  MountPoint b;
  b.type = "bind";
  b.source = "/srv";
  b.destination = "/srv";
  b.propagation = "rprivate";
  auto [ref, rw] = parse_volumes_from("other:ro");
  EXPECT_EQ(ref, "other");
  EXPECT_FALSE(rw);
  std::vector<MountPoint> inherited = {inherit_mount_point(v, rw), inherit_mount_point(b, rw)};
  auto ps = plan_mount_points(json::object(), {{"Binds", {"/tmp:/srv"}}}, inherited);
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(at(ps, "/data").name, "shared");
  EXPECT_FALSE(at(ps, "/data").rw);
  EXPECT_EQ(at(ps, "/data").mode, "") << "docker does not copy the mode";
  EXPECT_FALSE(at(ps, "/data").copy_data);
  EXPECT_EQ(at(ps, "/srv").source, "/tmp") << "the container's own bind replaces the inherited one";
  EXPECT_TRUE(parse_volumes_from("other").second);
  EXPECT_TRUE(parse_volumes_from("other:rw").second);
}

TEST(PlanMountPoints, DockersErrors) {
  EXPECT_EQ(plan_error({}, {{"Binds", {"a1:/x", "a2:/x"}}}), "Duplicate mount point: /x");
  EXPECT_EQ(plan_error({}, {{"Binds", {"a1:/x"}}, {"Tmpfs", {{"/x", ""}}}}), "Duplicate mount point: /x");
  EXPECT_EQ(plan_error({}, {{"Binds", {"a1:/x"}}, {"Mounts", {{{"Type", "volume"}, {"Target", "/x"}}}}}),
            "Duplicate mount point: /x");
  EXPECT_EQ(plan_error({}, {{"Binds", {"vol:rel"}}}),
            "invalid volume specification: 'vol:rel': invalid mount config for type \"volume\": invalid mount path: "
            "'rel' mount path must be absolute");
  EXPECT_EQ(plan_error({}, {{"Binds", {"vol:/x:bogus"}}}), "invalid mode: bogus");
  EXPECT_EQ(plan_error({}, {{"Binds", {"vol:/x:rshared"}}}),
            "invalid volume specification: 'vol:/x:rshared': invalid mount config for type \"volume\": field "
            "BindOptions must not be specified");
  auto vf_error = [](const std::string& spec) {
    try {
      parse_volumes_from(spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(vf_error("c:rshared"), "invalid mode: rshared");
  EXPECT_EQ(vf_error("c:nocopy"), "invalid mode: nocopy");
  EXPECT_EQ(vf_error(""), "volumes-from specification cannot be an empty string");
}

TEST(PlanMountPoints, HostConfigForSpecBindsTheResolvedVolumes) {
  test::TempDir dir;
  mkdir_all(dir / "vol");
  json hc = {{"Binds", {"data:/data:ro", dir.path() + "/made:/made"}},
             {"Mounts", {{{"Type", "tmpfs"}, {"Target", "/t"}, {"TmpfsOptions", {{"SizeBytes", 1 << 20}}}}}},
             {"Tmpfs", {{"/run", ""}}},
             {"Privileged", true}};
  auto ps = plan_mount_points({{"Volumes", {{"/run", json::object()}}}}, hc, {});
  for (auto& p : ps)
    if (p.type == "volume") p.source = dir / "vol";  // as the engine resolves it
  json spec_hc = host_config_for_spec(hc, ps);
  EXPECT_FALSE(spec_hc.contains("Binds"));
  EXPECT_EQ(spec_hc["Privileged"], true) << "everything else stays";
  auto oci = parse_user_mounts(spec_hc);
  ASSERT_EQ(oci.size(), 4u);
  std::map<std::string, json> by_dst;
  for (const auto& m : oci) by_dst[m["destination"]] = m;
  EXPECT_EQ(by_dst["/data"], json({{"destination", "/data"}, {"type", "bind"}, {"source", dir / "vol"},
                                   {"options", {"rbind", "ro", "rprivate"}}}));
  EXPECT_EQ(by_dst["/made"]["source"], dir / "made");
  EXPECT_TRUE(path_exists(dir / "made")) << "a -v source is created at start";
  EXPECT_EQ(by_dst["/t"]["options"], json({"noexec", "nosuid", "nodev", "rprivate", "size=1m"}));
  EXPECT_EQ(by_dst["/run"]["type"], "tmpfs") << "nothing else but the Tmpfs at /run";
}

TEST(PlanMountPoints, UnresolvedVolumesAreRefusedForTheSpec) {
  auto ps = plan_mount_points(json::object(), {{"Binds", {"data:/data"}}}, {});
  EXPECT_THROW(host_config_for_spec(json::object(), ps), Error);
  // Callers that only look at destinations still see where volumes go.
  auto oci = parse_user_mounts({{"Binds", {"data:/data:ro"}}});
  ASSERT_EQ(oci.size(), 1u);
  EXPECT_EQ(oci[0], json({{"destination", "/data"}, {"type", "volume"}, {"source", "data"}, {"options", {"ro"}}}));
}

TEST(MountPointRecord, RoundTripsEveryField) {
  MountPoint m;
  m.type = "volume";
  m.name = "n";
  m.source = "/s";
  m.destination = "/d";
  m.driver = "local";
  m.mode = "z";
  m.rw = false;
  m.propagation = "rslave";
  m.copy_data = true;
  m.spec = {{"Type", "volume"}, {"Source", "n"}};
  json j = m;
  MountPoint back = j.get<MountPoint>();
  EXPECT_EQ(json(back), j);
  EXPECT_EQ(back.name, "n");
  EXPECT_FALSE(back.rw);
  EXPECT_TRUE(back.copy_data);
  EXPECT_EQ(back.spec["Source"], "n");
}

}  // namespace
}  // namespace berth::engine
