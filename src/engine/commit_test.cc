// commit tests: dockerd's merge of the committed run config with the
// container's (the store-touching part is covered end to end).
#include "engine/commit.h"

#include <gtest/gtest.h>

namespace berth::engine {
namespace {

using nlohmann::ordered_json;

TEST(MergeRunConfig, FillsWhatTheUserLeftEmpty) {
  ordered_json base = {{"User", "app"},
                       {"Env", {"PATH=/bin", "A=1"}},
                       {"Cmd", {"sleep", "300"}},
                       {"WorkingDir", "/srv"},
                       {"Labels", {{"x", "1"}}},
                       {"ExposedPorts", {{"80/tcp", ordered_json::object()}}},
                       {"StopSignal", "SIGINT"}};
  ordered_json user = {{"Env", {"A=2"}}, {"Labels", {{"y", "2"}}}, {"ExposedPorts", {{"443/tcp", ordered_json::object()}}}};
  merge_run_config(&user, base);
  EXPECT_EQ(user["User"], "app");
  EXPECT_EQ(user["Env"], (ordered_json{"A=2", "PATH=/bin"}));
  EXPECT_EQ(user["Cmd"], (ordered_json{"sleep", "300"}));
  EXPECT_EQ(user["WorkingDir"], "/srv");
  EXPECT_EQ(user["Labels"], (ordered_json{{"y", "2"}, {"x", "1"}}));
  EXPECT_TRUE(user["ExposedPorts"].contains("80/tcp") && user["ExposedPorts"].contains("443/tcp"));
  EXPECT_EQ(user["StopSignal"], "SIGINT");
}

TEST(MergeRunConfig, AnEntrypointKeepsItsOwnEmptyCmd) {
  ordered_json base = {{"Cmd", {"sh"}}, {"Entrypoint", {"/init"}}};
  ordered_json user = {{"Entrypoint", {"/other"}}};
  merge_run_config(&user, base);
  EXPECT_FALSE(user.contains("Cmd"));
  EXPECT_EQ(user["Entrypoint"], (ordered_json{"/other"}));
  ordered_json cmd_only = {{"Cmd", {"echo", "hi"}}};
  merge_run_config(&cmd_only, base);
  EXPECT_EQ(cmd_only["Cmd"], (ordered_json{"echo", "hi"}));
  EXPECT_EQ(cmd_only["Entrypoint"], (ordered_json{"/init"}));
}

}  // namespace
}  // namespace berth::engine
