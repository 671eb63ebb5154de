#include "engine/container.h"

#include <gtest/gtest.h>

namespace berth::engine {
namespace {

Container stopped(const std::string& policy, int exit_code, bool manually_stopped, int max_retries = 0,
                  int restart_count = 0) {
  Container c;
  c.host_config = {{"RestartPolicy", {{"Name", policy}, {"MaximumRetryCount", max_retries}}}};
  c.has_been_started = true;
  c.manually_stopped = manually_stopped;
  c.restart_count = restart_count;
  c.state.status = Status::kExited;
  c.state.exit_code = exit_code;
  return c;
}

TEST(StartsAtBoot, FollowsDockerdRestore) {
  EXPECT_TRUE(starts_at_boot(stopped("always", 0, false)));
  EXPECT_TRUE(starts_at_boot(stopped("always", 137, true)));  // a manual stop lasts until the daemon restarts
  EXPECT_TRUE(starts_at_boot(stopped("unless-stopped", 255, false)));
  EXPECT_FALSE(starts_at_boot(stopped("unless-stopped", 137, true)));
  EXPECT_FALSE(starts_at_boot(stopped("no", 1, false)));
  EXPECT_FALSE(starts_at_boot(stopped("", 1, false)));
  EXPECT_FALSE(starts_at_boot(stopped("on-failure", 0, false)));
  EXPECT_TRUE(starts_at_boot(stopped("on-failure", 1, false)));
  // restartmanager ignores a manual stop for on-failure (moby#35166).
  EXPECT_TRUE(starts_at_boot(stopped("on-failure", 143, true)));
  EXPECT_TRUE(starts_at_boot(stopped("on-failure", 1, false, 3, 2)));
  EXPECT_FALSE(starts_at_boot(stopped("on-failure", 1, false, 3, 3)));
}

TEST(StartsAtBoot, OnlyStoppedContainersThatRanBefore) {
  Container never = stopped("always", 0, false);
  never.has_been_started = false;
  never.state.status = Status::kCreated;
  EXPECT_FALSE(starts_at_boot(never));
  for (Status s : {Status::kRunning, Status::kPaused, Status::kRestarting, Status::kRemoving, Status::kDead}) {
    Container c = stopped("always", 0, false);
    c.state.status = s;
    EXPECT_FALSE(starts_at_boot(c)) << status_name(s);
  }
}

TEST(ContainerRecord, RoundTripsOomKilled) {
  Container c = stopped("no", 137, false);
  c.id = std::string(64, 'a');
  c.name = "/x";
  c.state.oom_killed = true;
  EXPECT_TRUE(container_from_json(to_json(c)).state.oom_killed);
}

}  // namespace
}  // namespace berth::engine
