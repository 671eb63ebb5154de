#include "engine/spec_mounts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  EXPECT_THAT(error_of([] { parse_user_mounts({{"Binds", {"myvol:/data"}}}); }), HasSubstr("volumes are not supported yet"));
  EXPECT_THAT(error_of([] { parse_user_mounts({{"Binds", {"./rel:/data"}}}); }), HasSubstr("use absolute path"));
  EXPECT_EQ(error_of([] { parse_user_mounts({{"Binds", {"/tmp:/"}}}); }),
            "invalid volume specification: '/tmp:/': invalid specification: destination can't be '/'");
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
  EXPECT_THAT(err({{"Type", "volume"}, {"Source", "v"}, {"Target", "/x"}}), HasSubstr("volumes are not supported yet"));
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
