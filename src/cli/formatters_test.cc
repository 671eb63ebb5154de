#include "cli/formatters.h"

#include <gtest/gtest.h>

#include "cli/attach_io.h"
#include "cli/container_options.h"
#include "cli/stats.h"

namespace berth::cli {
namespace {

using json = nlohmann::json;

TEST(IndentJson, LikeGoJsonIndent) {
  EXPECT_EQ(indent_json(R"([{"a":[],"b":{},"c":[1,2],"d":"x\u003c,:{"}])"),
            "[\n    {\n        \"a\": [],\n        \"b\": {},\n        \"c\": [\n            1,\n            2\n"
            "        ],\n        \"d\": \"x\\u003c,:{\"\n    }\n]");
  EXPECT_EQ(indent_json("[]"), "[]");
}

TEST(ContainerRow, DockerTruncation) {
  json c = json::parse(R"({"Id":"307034d9c926b05eb548d91032712a0f","Names":["/t2","/other/link"],
    "Image":"bb","ImageID":"sha256:bd84","Command":"sh -c 'echo logline; sleep 1000'",
    "Created":100,"State":"running","Status":"Up 5 seconds",
    "Ports":[{"PrivatePort":80,"Type":"tcp"},{"IP":"0.0.0.0","PrivatePort":443,"PublicPort":8443,"Type":"tcp"}],
    "SizeRw":0,"Labels":{"b":"2","a":"1"}})");
  json r = container_row(c, true, 106);
  EXPECT_EQ(r["ID"], "307034d9c926");
  EXPECT_EQ(r["Command"], "\"sh -c 'echo logline…\"");
  EXPECT_EQ(r["RunningFor"], "6 seconds ago");
  EXPECT_EQ(r["Names"], "t2");
  EXPECT_EQ(r["Ports"], "80/tcp, 0.0.0.0:8443->443/tcp");
  EXPECT_EQ(r["Labels"], "a=1,b=2");
  json full = container_row(c, false, 106);
  EXPECT_EQ(full["Names"], "t2,other/link");
  EXPECT_EQ(full["Command"], "\"sh -c 'echo logline; sleep 1000'\"");
}

TEST(ImageRows, OneRowPerTagAndDangling) {
  json img = json::parse(R"({"Id":"sha256:bd849467ec42694883dae3bb","RepoTags":["bb:latest","docker.io/library/bb:v2"],
    "Created":100,"Size":1984000,"SharedSize":-1,"Containers":-1})");
  auto rows = image_rows(img, true, 160);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["Repository"], "bb");
  EXPECT_EQ(rows[1]["Tag"], "v2");
  EXPECT_EQ(rows[0]["Size"], "1.98MB");
  EXPECT_EQ(rows[0]["CreatedSince"], "About a minute ago");
  img["RepoTags"] = json::array();
  rows = image_rows(img, true, 160);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["Repository"], "<none>");
}

TEST(RenderList, FormatRules) {
  std::vector<json> rows = {{{"A", "x"}, {"B", "<y>"}}};
  json header = {{"A", "AAA"}, {"B", "B"}};
  EXPECT_EQ(render_list("", "table {{.A}}\t{{.B}}", header, rows), "AAA       B\nx         <y>\n");
  EXPECT_EQ(render_list("{{.A}}", "table {{.A}}", header, rows), "x\n");
  EXPECT_EQ(render_list("json", "table {{.A}}", header, rows), "{\"A\":\"x\",\"B\":\"\\u003cy\\u003e\"}\n");
}

TEST(Stats, CpuAndMemoryLikeDocker) {
  json s = json::parse(R"({"id":"abcdef0123456789","name":"/web",
    "cpu_stats":{"cpu_usage":{"total_usage":300},"system_cpu_usage":2000,"online_cpus":2},
    "precpu_stats":{"cpu_usage":{"total_usage":100},"system_cpu_usage":1000},
    "memory_stats":{"usage":2097152,"limit":8388608,"stats":{"inactive_file":1048576}},
    "pids_stats":{"current":3}})");
  json r = stats_row(s, "web", true);
  EXPECT_EQ(r["CPUPerc"], "40.00%");
  EXPECT_EQ(r["MemUsage"], "1MiB / 8MiB");
  EXPECT_EQ(r["MemPerc"], "12.50%");
  EXPECT_EQ(r["PIDs"], "3");
  EXPECT_EQ(r["Name"], "web");
  EXPECT_EQ(r["NetIO"], "0B / 0B");
}

TEST(DetachKeys, ParseAndDetect) {
  EXPECT_EQ(parse_detach_keys("ctrl-p,ctrl-q"), "\x10\x11");
  EXPECT_EQ(parse_detach_keys("a,ctrl-@"), std::string("a\0", 2));
  EXPECT_THROW(parse_detach_keys("ctrl-1"), Error);
  EscapeDetector d("\x10\x11");
  bool detached = false;
  EXPECT_EQ(d.feed("ab\x10", &detached), "ab");
  EXPECT_FALSE(detached);
  EXPECT_EQ(d.feed("c", &detached), "\x10" "c");
  EXPECT_EQ(d.feed("\x10", &detached), "");
  EXPECT_EQ(d.feed("\x11zz", &detached), "");
  EXPECT_TRUE(detached);
}

TEST(ContainerOptions, RunFlagsToCreateBody) {
  FlagSet f;
  add_container_flags(f);
  f.add_bool("d,detach", "");
  f.stop_at_first_positional();
  std::vector<std::string> args = {"-it", "--rm", "-e", "A=1", "-e", "HOME_X", "-m", "512m", "--cpus", "1.5",
                                   "--ulimit", "nofile=1024:2048", "-v", "/a:/b:ro", "-v", "/anon",
                                   "--tmpfs", "/run:size=1m", "--entrypoint", "", "-l", "k=v",
                                   "--health-cmd", "true", "--health-interval", "5s", "--pids-limit", "10",
                                   "--network", "none", "-p", "8080:80", "img", "ls", "-l"};
  auto pos = f.parse(args);
  json c = container_config(f, pos, [](const std::string& n) -> std::optional<std::string> {
    if (n == "HOME_X") return "/root";
    return std::nullopt;
  });
  EXPECT_EQ(c["Image"], "img");
  EXPECT_EQ(c["Cmd"], json({"ls", "-l"}));
  EXPECT_EQ(c["Entrypoint"], json({""}));
  EXPECT_EQ(c["Env"], json({"A=1", "HOME_X=/root"}));
  EXPECT_TRUE(c["Tty"].get<bool>());
  EXPECT_TRUE(c["OpenStdin"].get<bool>());
  EXPECT_TRUE(c["AttachStdin"].get<bool>());
  EXPECT_EQ(c["Labels"]["k"], "v");
  EXPECT_EQ(c["Volumes"], json({{"/anon", json::object()}}));
  EXPECT_EQ(c["Healthcheck"]["Test"], json({"CMD-SHELL", "true"}));
  EXPECT_EQ(c["Healthcheck"]["Interval"], 5000000000LL);
  const json& hc = c["HostConfig"];
  EXPECT_EQ(hc["Memory"], 512LL * 1024 * 1024);
  EXPECT_EQ(hc["NanoCpus"], 1500000000LL);
  EXPECT_EQ(hc["Ulimits"][0], json({{"Name", "nofile"}, {"Soft", 1024}, {"Hard", 2048}}));
  EXPECT_EQ(hc["Binds"], json({"/a:/b:ro"}));
  EXPECT_EQ(hc["Tmpfs"]["/run"], "size=1m");
  EXPECT_EQ(hc["PidsLimit"], 10);
  EXPECT_EQ(hc["NetworkMode"], "none");
  EXPECT_TRUE(hc["AutoRemove"].get<bool>());
  EXPECT_EQ(hc["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
  EXPECT_EQ(c["ExposedPorts"].count("80/tcp"), 1u);
}

TEST(ContainerOptions, Conflicts) {
  FlagSet f;
  add_container_flags(f);
  std::vector<std::string> args = {"--rm", "--restart", "always", "img"};
  auto pos = f.parse(args);
  EXPECT_THROW(container_config(f, pos, [](const std::string&) { return std::nullopt; }), Error);
}

}  // namespace
}  // namespace berth::cli
