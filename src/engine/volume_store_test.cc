#include "engine/volume_store.h"

#include <sys/mount.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "base/fs.h"
#include "base/test_util.h"
#include "engine/errors.h"
#include "runtime/mountinfo.h"

namespace berth::engine {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> events_of(EventLog& log) {
  std::vector<std::string> out;
  log.subscribe(0, now_nanos() + 1, [](const Event&) { return true; },
                [&](const Event& e) {
                  std::string attrs;
                  for (const auto& [k, v] : e.attributes) attrs += " " + k + "=" + v;
                  out.push_back(e.type + " " + e.action + " " + e.id + attrs);
                  return true;
                },
                std::stop_token());
  return out;
}

template <typename E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

bool is_mounted(const std::string& path) {
  for (const auto& m : runtime::read_mountinfo())
    if (m.mount_point == path) return true;
  return false;
}

struct VolumeStoreTest : ::testing::Test {
  test::TempDir root;
  EventLog events;
  VolumeStore store{root.path(), events};
};

TEST_F(VolumeStoreTest, CreateLaysOutTheVolumeAndTellsEvents) {
  VolumeStore::CreateOptions o;
  o.labels = StringMap{{"team", "db"}};
  Volume v = store.create("data", o);
  EXPECT_EQ(v.name, "data");
  EXPECT_EQ(v.driver, "local");
  EXPECT_EQ(v.mountpoint, root / "volumes/data/_data");
  EXPECT_TRUE(path_exists(v.mountpoint));
  EXPECT_TRUE(path_exists(root / "volumes/data/volume.json"));
  EXPECT_EQ(v.labels, (StringMap{{"team", "db"}}));
  EXPECT_FALSE(v.options) << "none given: docker shows null";
  EXPECT_TRUE(std::regex_match(v.created_at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d))")))
      << v.created_at;
  EXPECT_EQ(store.get("data").labels, v.labels);
  EXPECT_THAT(events_of(events), ElementsAre("volume create data driver=local"));
}

TEST_F(VolumeStoreTest, CreatingAnExistingNameReturnsItAsItIs) {
  VolumeStore::CreateOptions first, second;
  first.labels = StringMap{{"a", "1"}};
  second.labels = StringMap{{"b", "2"}};
  second.ref = "c1";
  store.create("data", first);
  Volume again = store.create("data", second);
  EXPECT_EQ(again.labels, (StringMap{{"a", "1"}}));
  EXPECT_EQ(store.refs("data"), (std::set<std::string>{"c1"})) << "the reference is taken all the same";
  EXPECT_EQ(events_of(events).size(), 1u) << "one create event";
}

TEST_F(VolumeStoreTest, AnonymousVolumesGetARandomNameAndDockersLabel) {
  Volume v = store.create("", {});
  EXPECT_TRUE(std::regex_match(v.name, std::regex("[0-9a-f]{64}"))) << v.name;
  EXPECT_TRUE(v.has_label(kAnonymousVolumeLabel));
  EXPECT_NE(store.create("", {}).name, v.name);
}

TEST_F(VolumeStoreTest, NamesAndOptionsAreValidatedLikeTheLocalDriver) {
  auto err = [&](const std::string& name, StringMap opts = {}) {
    VolumeStore::CreateOptions o;
    if (!opts.empty()) o.options = opts;
    return error_of<InvalidArgumentError>([&] { store.create(name, o); });
  };
  EXPECT_EQ(err("x"), "create x: volume name is too short, names should be at least two alphanumeric characters");
  EXPECT_EQ(err("a b"),
            "create a b: \"a b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" "
            "are allowed. If you intended to pass a host directory, use absolute path");
  EXPECT_THAT(err("./rel"), ::testing::HasSubstr("use absolute path"));
  EXPECT_EQ(err("vv", {{"foo", "1"}}), "create vv: invalid option: \"foo\"");
  EXPECT_EQ(err("vv", {{"type", "tmpfs"}}), "create vv: missing required option: \"device\"");
  EXPECT_EQ(err("vv", {{"device", "tmpfs"}}), "create vv: missing required option: \"type\"");
  EXPECT_EQ(err("vv", {{"o", "size=1m"}, {"type", "tmpfs"}}), "create vv: missing required option: \"device\"");
  EXPECT_EQ(err("vv", {{"size", "10m"}}), "create vv: quota size requested but no quota support");
  EXPECT_EQ(err("vv", {{"size", "lots"}}), "create vv: invalid size: 'lots'");
  EXPECT_TRUE(store.list().empty()) << "nothing is left of refused volumes";
  VolumeStore::CreateOptions plugin;
  plugin.driver = "nfs-plugin";
  EXPECT_EQ(error_of<NotFoundError>([&] { store.create("vv", plugin); }),
            "create vv: error looking up volume plugin nfs-plugin: plugin \"nfs-plugin\" not found");
}

TEST_F(VolumeStoreTest, AVolumeInUseCannotBeRemoved) {
  VolumeStore::CreateOptions o;
  o.ref = "c2";
  store.create("data", o);
  store.add_ref("data", "c1");
  store.add_ref("data", "c1");
  EXPECT_EQ(error_of<ConflictError>([&] { store.remove("data", false); }),
            "remove data: volume is in use - [c1, c2]");
  EXPECT_EQ(error_of<ConflictError>([&] { store.remove("data", true); }), "remove data: volume is in use - [c1, c2]")
      << "force only forgives a missing volume";
  store.release("data", "c1");
  store.release("data", "c2");
  store.remove("data", false);
  EXPECT_FALSE(path_exists(root / "volumes/data"));
  EXPECT_EQ(error_of<NotFoundError>([&] { store.get("data"); }), "get data: no such volume");
  EXPECT_EQ(error_of<NotFoundError>([&] { store.remove("data", false); }), "get data: no such volume");
  store.remove("data", true);
  EXPECT_EQ(error_of<NotFoundError>([&] { store.add_ref("data", "c1"); }), "get data: no such volume");
  EXPECT_THAT(events_of(events), ElementsAre("volume create data driver=local", "volume destroy data driver=local"));
}

TEST_F(VolumeStoreTest, VolumesSurviveARestartAsTheyWere) {
  VolumeStore::CreateOptions o;
  o.labels = StringMap{};
  o.options = StringMap{{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=1m"}};
  Volume made = store.create("data", o);
  store.create("plain", {});
  mkdir_all(root / "volumes/byhand/_data");
  mkdir_all(root / "volumes/.trash-gone/_data");
  VolumeStore again(root.path(), events);
  auto vs = again.list();
  ASSERT_EQ(vs.size(), 3u);
  EXPECT_EQ(vs[0].name, "byhand");
  EXPECT_EQ(vs[1].name, "data");
  EXPECT_EQ(vs[1].labels, StringMap{}) << "an empty map stays {}";
  EXPECT_EQ(vs[1].options, made.options);
  EXPECT_EQ(vs[1].created_at, made.created_at);
  EXPECT_FALSE(vs[2].labels) << "none stays null";
  EXPECT_FALSE(path_exists(root / "volumes/.trash-gone")) << "a removal cut short is finished";
}

TEST_F(VolumeStoreTest, DriverOptionsAreMountedWhileAnyContainerUsesThem) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  VolumeStore::CreateOptions o;
  o.options = StringMap{{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=1m,mode=0750"}};
  Volume v = store.create("fast", o);
  EXPECT_FALSE(is_mounted(v.mountpoint)) << "nothing is mounted before a container needs it";
  EXPECT_EQ(store.mount("fast", "c1"), v.mountpoint);
  EXPECT_TRUE(is_mounted(v.mountpoint));
  struct stat st;
  ASSERT_EQ(::stat(v.mountpoint.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u) << "the o= options reach the file system";
  store.mount("fast", "c2");
  EXPECT_TRUE(store.unmount("fast", "c1"));
  EXPECT_TRUE(is_mounted(v.mountpoint)) << "c2 still uses it";
  EXPECT_FALSE(store.unmount("fast", "c1")) << "c1 had one mount";
  EXPECT_TRUE(store.unmount("fast", "c2"));
  EXPECT_FALSE(is_mounted(v.mountpoint));

  // A daemon restart keeps the mount of a container still running and drops the others'.
  store.mount("fast", "c3");
  {
    VolumeStore again(root.path(), events);
    again.restore_mount("fast", "c3");
    again.unmount_unused();
    EXPECT_TRUE(is_mounted(v.mountpoint));
    again.unmount("fast", "c3");
    EXPECT_FALSE(is_mounted(v.mountpoint));
  }
  store.mount("fast", "c4");
  {
    VolumeStore again(root.path(), events);
    again.unmount_unused();
    EXPECT_FALSE(is_mounted(v.mountpoint));
  }
}

TEST_F(VolumeStoreTest, PruneRemovesUnusedMatchingVolumesWithoutOptions) {
  store.create("keep-used", {.ref = "c1"});
  store.create("keep-labelled", {.labels = StringMap{{"keep", ""}}});
  store.create("keep-opts", {.options = StringMap{{"type", "tmpfs"}, {"device", "tmpfs"}}});
  Volume big = store.create("big", {});
  write_file(path_join(big.mountpoint, "f"), std::string(3000, 'x'));
  ASSERT_EQ(::link(path_join(big.mountpoint, "f").c_str(), path_join(big.mountpoint, "hard").c_str()), 0);
  mkdir_all(path_join(big.mountpoint, "d"));
  write_file(path_join(big.mountpoint, "d/g"), std::string(10, 'y'));
  auto report = store.prune([](const Volume& v) { return !v.has_label("keep"); });
  EXPECT_EQ(report.deleted, std::vector<std::string>{"big"});
  EXPECT_EQ(report.reclaimed, 3010u) << "a hard-linked file counts once";
  std::vector<std::string> left;
  for (const auto& v : store.list()) left.push_back(v.name);
  EXPECT_THAT(left, ElementsAre("keep-labelled", "keep-opts", "keep-used"));
  EXPECT_EQ(events_of(events).back(), "volume prune  reclaimed=3010");
}

}  // namespace
}  // namespace berth::engine
