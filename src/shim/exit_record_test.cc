#include "shim/exit_record.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "base/fs.h"
#include "base/test_util.h"

namespace berth::shim {
namespace {

TEST(ExitRecord, DockerCodes) {
  EXPECT_EQ(docker_exit_code(3 << 8), 3);          // exited 3
  EXPECT_EQ(docker_exit_code(SIGKILL), 128 + 9);   // killed by SIGKILL
  EXPECT_EQ(exit_json(SIGTERM, 42, {1700000000, 0}, false),
            "{\"exit_code\":143,\"exited_at\":\"2023-11-14T22:13:20Z\",\"oom_killed\":false,\"pid\":42,\"signal\":15}\n");
  EXPECT_EQ(exit_json(SIGKILL, 7, {1700000000, 0}, true),
            "{\"exit_code\":137,\"exited_at\":\"2023-11-14T22:13:20Z\",\"oom_killed\":true,\"pid\":7,\"signal\":9}\n");
}

TEST(ExitRecord, ParsesOomKillCountOfBothCgroupVersions) {
  // cgroup v1 memory.oom_control and v2 memory.events, as the kernel writes them.
  EXPECT_EQ(parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 3u);
  EXPECT_EQ(parse_oom_kills("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n"), 1u);
  // Kernels before 4.13 have no v1 counter: unknown, not zero.
  EXPECT_EQ(parse_oom_kills("oom_kill_disable 0\nunder_oom 0\n"), std::nullopt);
  EXPECT_EQ(parse_oom_kills("oom_group_kill 4\n"), std::nullopt);
}

TEST(ExitRecord, ReadsWhicheverFileTheCgroupHas) {
  test::TempDir v1, v2, none;
  write_file_replace(v1 / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  write_file_replace(v2 / "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
  EXPECT_EQ(read_oom_kills(v1.path()), 2u);
  EXPECT_EQ(read_oom_kills(v2.path()), 0u);
  EXPECT_EQ(read_oom_kills(none.path()), std::nullopt);
  EXPECT_EQ(read_oom_kills(none / "gone"), std::nullopt);
}

}  // namespace
}  // namespace berth::shim
