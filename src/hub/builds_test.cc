#include "hub/builds.h"

#include <algorithm>
#include <chrono>
#include <set>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/test_util.h"
#include "registry/http_client.h"

namespace berth::hub {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(BuildRules, ExactNamesAndTypes) {
  BuildRule r{"branch", "main", "Dockerfile", "/", "latest"};
  EXPECT_EQ(match_rule(r, {"branch", "main", "c"}), "latest");
  EXPECT_EQ(match_rule(r, {"branch", "mainline", "c"}), std::nullopt);
  EXPECT_EQ(match_rule(r, {"tag", "main", "c"}), std::nullopt);
}

TEST(BuildRules, RegexAndTemplates) {
  BuildRule r{"tag", "/^v([0-9]+)\\.([0-9]+)$/", "Dockerfile", "/", "{sourceref}-{\\1}-{\\2}"};
  EXPECT_EQ(match_rule(r, {"tag", "v1.20", "c"}), "v1.20-1-20");
  EXPECT_EQ(match_rule(r, {"tag", "v1.20-rc", "c"}), std::nullopt);  // the whole name must match
  BuildRule b{"branch", "main", "Dockerfile", "/", "build-{sourceref}"};
  EXPECT_EQ(match_rule(b, {"branch", "main", "c"}), "build-main");
}

TEST(BuildRules, LsRemoteOutput) {
  auto refs = parse_ls_remote(
      "1111111111111111111111111111111111111111\trefs/heads/main\n"
      "2222222222222222222222222222222222222222\trefs/tags/v1\n"
      "3333333333333333333333333333333333333333\trefs/tags/v1^{}\n"
      "4444444444444444444444444444444444444444\trefs/pull/1/head\n");
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0].type, "branch");
  EXPECT_EQ(refs[0].name, "main");
  EXPECT_EQ(refs[0].commit, std::string(40, '1'));
  EXPECT_EQ(refs[1].type, "tag");
  EXPECT_EQ(refs[1].name, "v1");
  EXPECT_EQ(refs[1].commit, std::string(40, '3'));  // the commit, not the tag object
}

TEST(BuildRules, Validation) {
  for (const char* ok : {"https://github.com/a/b.git", "git@github.com:a/b.git", "/srv/git/app", "file:///srv/x",
                         "ssh://git@host/x", "git://host/x"}) {
    EXPECT_NO_THROW(check_git_url(ok)) << ok;
  }
  for (const char* bad : {"ext::sh -c touch% /tmp/pwned", "-uhelp", "relative/path", "", "fd::3", "ftp://h/x"}) {
    EXPECT_THROW(check_git_url(bad), http::HttpError) << bad;
  }
  EXPECT_THROW(check_rule({"commit", "main", "Dockerfile", "/", "latest"}), http::HttpError);
  EXPECT_THROW(check_rule({"branch", "/([/", "Dockerfile", "/", "latest"}), http::HttpError);
  EXPECT_THROW(check_rule({"branch", "main", "../Dockerfile", "/", "latest"}), http::HttpError);
  EXPECT_THROW(check_rule({"branch", "main", "Dockerfile", "a/../../b", "latest"}), http::HttpError);
  EXPECT_THROW(check_rule({"branch", "main", "Dockerfile", "/", ""}), http::HttpError);
  EXPECT_NO_THROW(check_rule({"branch", "main", "docker/Dockerfile.prod", "/src", "{sourceref}"}));
}

// The service against a real git repository and a berthd socket that does
// not exist: everything up to talking to berthd is real.
class BuildServiceTest : public ::testing::Test {
 protected:
  BuildServiceTest()
      : db_(open_database(dir_ / "hub.db")),
        meta_(*db_),
        blobs_(dir_ / "blobs"),
        ctx_{*db_, meta_, blobs_, "http://127.0.0.1:5999", nullptr, nullptr, nullptr} {
    meta_.migrate();
    ctx_.authenticate = [](http::Request& req) {
      Principal p;
      p.name = req.header("X-Test-User");
      p.site_admin = p.name == "admin";
      return p;
    };
    // "owner" administers repositories without being a site admin.
    ctx_.level = [](const Principal& p, const std::string&) {
      return p.name == "admin" || p.name == "owner" ? Level::kAdmin : p.anonymous() ? Level::kNone : Level::kRead;
    };
    git_ = dir_ / "git";
    mkdir_all(git_, 0755);
    sh("git init -q -b main . && git config user.email t@e && git config user.name t && "
       "printf 'FROM scratch\\n' > Dockerfile && git add . && git commit -qm one");
  }
  void sh(const std::string& cmd) {
    ProcessResult r = run_process({"sh", "-c", "cd " + git_ + " && " + cmd});
    ASSERT_TRUE(r.ok()) << r.err;
  }
  std::string head() { return std::string(trim(run_capture({"git", "-C", git_, "rev-parse", "HEAD"}))); }

  struct Api {
    explicit Api(BuildService& s)
        : server([&s](http::Request& req, http::Response& res) {
            if (!s.serve(req, res)) res.send(404, "text/plain", "not mine");
          }, {}) {
      port = server.listen_tcp("127.0.0.1", 0);
      server.start();
    }
    registry::HttpResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                                const std::string& user = "admin") {
      registry::HttpRequest r;
      r.method = method;
      r.url = fmt::format("http://127.0.0.1:{}{}", port, path);
      r.body = body;
      if (!user.empty()) r.headers.push_back("X-Test-User: " + user);
      r.headers.push_back("Expect:");  // curl would wait a second for "100 Continue" on PUT
      return client.send(r);
    }
    http::HttpServer server;
    uint16_t port;
    registry::HttpClient client;
  };

  BuildService::Options options() {
    BuildService::Options o;
    o.berthd = "unix://" + (dir_ / "no-berthd.sock");
    o.poll = 0ms;
    o.work_dir = dir_.path();
    return o;
  }

  json put_rules(Api& api, const json& rules) {
    auto r = api.call("PUT", "/api/v1/repositories/team/app/build-rules",
                      json{{"source", git_}, {"rules", rules}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  }

  test::TempDir dir_;
  std::unique_ptr<Database> db_;
  Metadata meta_;
  FileBlobStore blobs_;
  HubContext ctx_;
  std::string git_;
};

TEST_F(BuildServiceTest, RulesRoutes) {
  BuildService s(ctx_, options(), nullptr);
  s.migrate();
  Api api(s);
  const std::string rules = "/api/v1/repositories/team/app/build-rules";
  EXPECT_EQ(api.call("GET", rules, "", "reader").status, 403);
  EXPECT_EQ(api.call("GET", rules, "", "").status, 401);
  EXPECT_EQ(api.call("PUT", rules, json{{"source", "ext::sh"}, {"rules", json::array()}}.dump()).status, 400);
  auto missing = api.call("PUT", rules, json{{"source", dir_ / "nothing"}, {"rules", json::array()}}.dump());
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("git ls-remote"), std::string::npos) << missing.body;

  json saved = put_rules(api, {{{"source_type", "branch"}, {"source_name", "main"}, {"tag", "latest"}}});
  EXPECT_EQ(saved["rules"][0]["dockerfile"], "Dockerfile");
  std::string trigger_url = saved["trigger_url"];
  EXPECT_TRUE(trigger_url.starts_with("http://127.0.0.1:5999/api/v1/repositories/team/app/-/builds/trigger/"));
  json got = json::parse(api.call("GET", rules).body);
  EXPECT_EQ(got, saved);
  // Saving again keeps the trigger URL.
  EXPECT_EQ(put_rules(api, got["rules"])["trigger_url"], trigger_url);
}

TEST_F(BuildServiceTest, ManualTriggerTheTriggerUrlAndPolling) {
  BuildService s(ctx_, options(), nullptr);
  s.migrate();
  Api api(s);
  json saved = put_rules(api, {{{"source_type", "branch"}, {"source_name", "main"}, {"tag", "latest"}},
                               {{"source_type", "tag"}, {"source_name", "/^v.*/"}, {"tag", "{sourceref}"}}});
  const std::string builds = "/api/v1/repositories/team/app/builds";
  EXPECT_EQ(api.call("POST", builds, json{{"ref", "nope"}}.dump()).status, 400);
  EXPECT_EQ(api.call("POST", builds, "", "reader").status, 403);

  auto r = api.call("POST", builds, json{{"ref", "main"}}.dump());
  ASSERT_EQ(r.status, 202) << r.body;
  json b = json::parse(r.body)["builds"];
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]["status"], "queued");
  EXPECT_EQ(b[0]["ref"], "main");
  EXPECT_EQ(b[0]["commit"], head());
  EXPECT_EQ(b[0]["tag"], "latest");
  std::string id = b[0]["id"];

  // The poller: refs present when the rules were saved are not built; a
  // new commit and a new matching tag are, a non-matching tag is not.
  s.poll_once();
  EXPECT_EQ(json::parse(api.call("GET", builds).body).size(), 1u);
  sh("echo x > f && git add f && git commit -qm two && git tag v2 && git tag other");
  s.poll_once();
  json all = json::parse(api.call("GET", builds, "", "reader").body);
  ASSERT_EQ(all.size(), 3u);
  std::set<std::string> seen;
  for (const json& x : all) seen.insert(x["ref"].get<std::string>() + "=" + x["tag"].get<std::string>() + "@" +
                                        x["commit"].get<std::string>() + "/" + x["reason"].get<std::string>());
  EXPECT_TRUE(seen.count("main=latest@" + head() + "/git push")) << all.dump();
  EXPECT_TRUE(seen.count("v2=v2@" + head() + "/git push")) << all.dump();
  s.poll_once();  // nothing changed since
  EXPECT_EQ(json::parse(api.call("GET", builds).body).size(), 3u);

  // The trigger URL needs no account, only the token.
  std::string trigger = saved["trigger_url"].get<std::string>().substr(std::string("http://127.0.0.1:5999").size());
  EXPECT_EQ(api.call("POST", trigger + "x", "", "").status, 404);
  EXPECT_EQ(api.call("POST", trigger, json{{"ref", "v2"}}.dump(), "").status, 202);

  // Without berthd every build fails, saying why, after a real clone.
  s.start();
  ASSERT_TRUE(s.wait_idle(20s));
  json done = json::parse(api.call("GET", builds + "/" + id, "", "reader").body);
  EXPECT_EQ(done["status"], "failure");
  EXPECT_FALSE(done["finished"].is_null());
  std::string log = done["log"];
  EXPECT_NE(log.find("Building commit "), std::string::npos) << log;
  EXPECT_NE(log.find("no-berthd.sock"), std::string::npos) << log;
  EXPECT_NE(done["error"].get<std::string>().find("no-berthd.sock"), std::string::npos);
  EXPECT_EQ(api.call("GET", builds + "/" + id, "", "").status, 401);
  EXPECT_EQ(api.call("GET", builds + "/AAAAAAAAAAAAAAAA").status, 404);
  s.stop();
}

TEST_F(BuildServiceTest, ABuildWhoseProcessStoppedBeatingIsRunAgain) {
  BuildService s(ctx_, options(), nullptr);
  s.migrate();
  Api api(s);
  put_rules(api, {{{"source_type", "branch"}, {"source_name", "main"}, {"tag", "latest"}}});
  const std::string builds = "/api/v1/repositories/team/app/builds";
  std::string crashed = json::parse(api.call("POST", builds).body)["builds"][0]["id"];
  std::string alive = json::parse(api.call("POST", builds).body)["builds"][0]["id"];
  std::string doomed = json::parse(api.call("POST", builds).body)["builds"][0]["id"];
  int64_t now = unix_seconds_now();
  // This one has taken its process down three times already.
  db_->exec("UPDATE builds SET status = 'running', started = ?, heartbeat = ?, runs = 3 WHERE id = ?",
            {now - 3600, now - 3600, doomed});
  // One replica crashed an hour into its build; another is running its own right now.
  db_->exec("UPDATE builds SET status = 'running', started = ?, heartbeat = ? WHERE id = ?", {now - 3600, now - 3600,
                                                                                            crashed});
  db_->exec("UPDATE builds SET status = 'running', started = ?, heartbeat = ? WHERE id = ?", {now, now, alive});
  s.start();
  json done;
  for (int i = 0; i < 400; i++) {
    done = json::parse(api.call("GET", builds + "/" + crashed).body);
    if (done["status"] == "failure") break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(done["status"], "failure") << "without berthd a build that runs fails";
  std::string log = done["log"];
  EXPECT_NE(log.find("went away; it is queued again"), std::string::npos) << log;
  EXPECT_NE(log.find("no-berthd.sock"), std::string::npos) << log;
  EXPECT_EQ(json::parse(api.call("GET", builds + "/" + alive).body)["status"], "running") << "left to its replica";
  json gave_up = json::parse(api.call("GET", builds + "/" + doomed).body);
  EXPECT_EQ(gave_up["status"], "failure");
  EXPECT_EQ(gave_up["error"], "the process running this build went away 3 times");
  s.stop();
}

TEST_F(BuildServiceTest, AnInvalidTagFailsTheBuild) {
  BuildService s(ctx_, options(), nullptr);
  s.migrate();
  Api api(s);
  sh("git checkout -qb feature/x");
  put_rules(api, {{{"source_type", "branch"}, {"source_name", "/feature/.*/"}, {"tag", "{sourceref}"}}});
  auto r = api.call("POST", "/api/v1/repositories/team/app/builds", "");
  ASSERT_EQ(r.status, 202) << r.body;
  s.start();
  ASSERT_TRUE(s.wait_idle(10s));
  json b = json::parse(api.call("GET", "/api/v1/repositories/team/app/builds").body);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]["status"], "failure");
  EXPECT_NE(b[0]["error"].get<std::string>().find("feature/x"), std::string::npos) << b[0]["error"];
}

TEST_F(BuildServiceTest, LocalSourcesNeedASiteAdminUnlessAllowed) {
  json body = {{"source", git_}, {"rules", {{{"source_type", "branch"}, {"source_name", "main"}, {"tag", "latest"}}}}};
  {
    BuildService s(ctx_, options(), nullptr);
    s.migrate();
    Api api(s);
    auto r = api.call("PUT", "/api/v1/repositories/team/app/build-rules", body.dump(), "owner");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(r.body.find("site admins"), std::string::npos) << r.body;
    body["source"] = "file://" + git_;
    EXPECT_EQ(api.call("PUT", "/api/v1/repositories/team/app/build-rules", body.dump(), "owner").status, 403);
    EXPECT_EQ(api.call("GET", "/api/v1/repositories/team/app/build-rules", "", "owner").body.find(git_),
              std::string::npos);
    EXPECT_EQ(api.call("PUT", "/api/v1/repositories/team/app/build-rules", body.dump(), "admin").status, 200);
  }
  BuildService::Options o = options();
  o.local_sources = true;
  BuildService s(ctx_, o, nullptr);
  Api api(s);
  body["source"] = git_;
  auto r = api.call("PUT", "/api/v1/repositories/team/app/build-rules", body.dump(), "owner");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["source"], git_);
}

TEST_F(BuildServiceTest, LsRemoteReadsEverythingGitPrintedBeforeExiting) {
  // ~150 KiB of output, more than a pipe holds: git's last writes land
  // just before it exits, and must be read after its exit is seen.
  sh("sha=$(git rev-parse HEAD); i=0; while [ $i -lt 3000 ]; do echo \"create refs/tags/t$i $sha\"; "
     "i=$((i+1)); done | git update-ref --stdin");
  BuildService s(ctx_, options(), nullptr);
  for (int round = 0; round < 5; round++) {
    std::vector<GitRef> refs = s.ls_remote(git_);
    size_t tags = std::count_if(refs.begin(), refs.end(), [](const GitRef& r) { return r.type == "tag"; });
    ASSERT_EQ(tags, 3000u) << "round " << round;
    ASSERT_EQ(refs.size(), 3001u) << "round " << round;
  }
}

TEST_F(BuildServiceTest, StopDoesNotWaitForAHangingGitRemote) {
  // A "git server" that accepts the request and never answers.
  http::HttpServer silent(
      [](http::Request& req, http::Response&) {
        while (!req.stop_token().stop_requested()) std::this_thread::sleep_for(10ms);
      },
      {});
  uint16_t port = silent.listen_tcp("127.0.0.1", 0);
  silent.start();
  BuildService::Options o = options();
  o.poll = 10ms;
  BuildService s(ctx_, o, nullptr);
  s.migrate();
  Api api(s);
  put_rules(api, {{{"source_type", "branch"}, {"source_name", "main"}}});
  db_->exec("UPDATE build_sources SET git_url = ?", {fmt::format("http://127.0.0.1:{}/x.git", port)});
  s.start();
  std::this_thread::sleep_for(500ms);  // the poller is inside `git ls-remote` by now
  auto t0 = std::chrono::steady_clock::now();
  s.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  silent.stop();
}

}  // namespace
}  // namespace berth::hub
