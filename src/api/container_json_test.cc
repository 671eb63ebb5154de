#include "api/container_json.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

constexpr int64_t kSec = 1000000000LL;

TEST(HumanDuration, MatchesGoUnits) {
  EXPECT_EQ(human_duration(kSec / 2), "Less than a second");
  EXPECT_EQ(human_duration(1 * kSec), "1 second");
  EXPECT_EQ(human_duration(59 * kSec), "59 seconds");
  EXPECT_EQ(human_duration(61 * kSec), "About a minute");
  EXPECT_EQ(human_duration(5 * 60 * kSec), "5 minutes");
  EXPECT_EQ(human_duration(3600 * kSec + 5), "About an hour");
  EXPECT_EQ(human_duration(47 * 3600 * kSec), "47 hours");
  EXPECT_EQ(human_duration(3 * 24 * 3600 * kSec), "3 days");
  EXPECT_EQ(human_duration(20 * 24 * 3600 * kSec), "2 weeks");
}

engine::Container sample() {
  engine::Container c;
  c.id = std::string(64, 'a');
  c.name = "/web";
  c.image_ref = "busybox";
  c.image_id = "sha256:" + std::string(64, 'b');
  c.created = "2024-01-01T00:00:00Z";
  c.config = {{"Labels", {{"tier", "front"}}}};
  c.path = "sh";
  c.args = {"-c", "sleep 1"};
  return c;
}

TEST(ContainerStatusText, RunningExitedCreated) {
  engine::Container c = sample();
  int64_t t0 = 1704067200LL * kSec;  // 2024-01-01T00:00:00Z
  EXPECT_EQ(container_status_text(c, t0), "Created");
  c.state.status = engine::Status::kRunning;
  c.state.started_at = "2024-01-01T00:00:00Z";
  EXPECT_EQ(container_status_text(c, t0 + 3 * kSec), "Up 3 seconds");
  c.state.status = engine::Status::kPaused;
  EXPECT_EQ(container_status_text(c, t0 + 3 * kSec), "Up 3 seconds (Paused)");
  c.has_been_started = true;
  c.state.status = engine::Status::kExited;
  c.state.exit_code = 3;
  c.state.finished_at = "2024-01-01T00:02:00Z";
  EXPECT_EQ(container_status_text(c, t0 + 7 * 60 * kSec), "Exited (3) 5 minutes ago");
}

TEST(ContainerMatches, LabelStatusNameIdExitedAncestor) {
  engine::Container c = sample();
  c.has_been_started = true;
  c.state.status = engine::Status::kExited;
  c.state.exit_code = 1;
  EXPECT_TRUE(container_matches(c, {{"label", {"tier=front"}}}, {}));
  EXPECT_TRUE(container_matches(c, {{"label", {"tier"}}}, {}));
  EXPECT_FALSE(container_matches(c, {{"label", {"tier=back"}}}, {}));
  EXPECT_TRUE(container_matches(c, {{"status", {"running", "exited"}}}, {}));
  EXPECT_FALSE(container_matches(c, {{"status", {"running"}}}, {}));
  EXPECT_TRUE(container_matches(c, {{"name", {"web"}}}, {}));
  EXPECT_FALSE(container_matches(c, {{"name", {"db"}}}, {}));
  EXPECT_TRUE(container_matches(c, {{"id", {"aaaa"}}}, {}));
  EXPECT_TRUE(container_matches(c, {{"exited", {"1"}}}, {}));
  EXPECT_FALSE(container_matches(c, {{"exited", {"0"}}}, {}));
  EXPECT_TRUE(container_matches(c, {{"ancestor", {"busybox"}}}, {}));
  EXPECT_TRUE(container_matches(c, {{"ancestor", {"x"}}}, {c.image_id}));
  EXPECT_FALSE(container_matches(c, {{"ancestor", {"alpine"}}}, {}));
}

TEST(ContainerInspectJson, HasDockersShape) {
  engine::Container c = sample();
  c.host_config = {{"NetworkMode", "none"}};
  auto j = container_inspect_json(c, {});
  EXPECT_EQ(j["Name"], "/web");
  EXPECT_EQ(j["State"]["Status"], "created");
  EXPECT_EQ(j["State"]["Running"], false);
  EXPECT_EQ(j["Args"], nlohmann::json({"-c", "sleep 1"}));
  EXPECT_EQ(j["HostConfig"]["NetworkMode"], "none");
  EXPECT_EQ(j["HostConfig"]["RestartPolicy"]["Name"], "no");
  EXPECT_TRUE(j["Config"].contains("Tty"));
  EXPECT_EQ(j["Config"]["Labels"]["tier"], "front");
  auto s = container_summary_json(c, 0);
  EXPECT_EQ(s["Command"], "sh -c sleep 1");
  EXPECT_EQ(s["Names"], nlohmann::json({"/web"}));
}

}  // namespace
}  // namespace berth::api
