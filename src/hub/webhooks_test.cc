#include "hub/webhooks.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/test_util.h"
#include "hub/accounts.h"
#include "registry/http_client.h"

namespace berth::hub {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A receiver on 127.0.0.1 that records each POST body and answers with the
// next status from a script (the last one repeats).
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses, std::chrono::milliseconds delay = 0ms)
      : statuses_(std::move(statuses)),
        delay_(delay),
        server_([this](http::Request& req, http::Response& res) { handle(req, res); }, {}) {
    port_ = server_.listen_tcp("127.0.0.1", 0);
    server_.start();
  }
  ~Receiver() { server_.stop(); }
  std::string url() const { return fmt::format("http://127.0.0.1:{}/hook", port_); }
  std::vector<json> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  void handle(http::Request& req, http::Response& res) {
    std::string body = req.body();
    size_t n;
    {
      std::lock_guard lock(mu_);
      bodies_.push_back(json::parse(body));
      n = bodies_.size();
    }
    auto until = std::chrono::steady_clock::now() + delay_;
    while (std::chrono::steady_clock::now() < until && !req.stop_token().stop_requested()) {
      std::this_thread::sleep_for(10ms);
    }
    int status = statuses_[std::min(n, statuses_.size()) - 1];
    res.send(status, "text/plain", status == 200 ? "ok" : "nope");
  }

  std::vector<int> statuses_;
  std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::vector<json> bodies_;
  http::HttpServer server_;
  uint16_t port_ = 0;
};

class WebhooksTest : public ::testing::Test {
 protected:
  WebhooksTest()
      : db_(open_database(dir_ / "hub.db")),
        meta_(*db_),
        blobs_(dir_.path()),
        ctx_{*db_, meta_, blobs_, "http://hub.example:5000", nullptr, nullptr, nullptr} {
    meta_.migrate();
    Accounts(*db_).migrate();
    ctx_.authenticate = [this](http::Request& req) {
      Principal p;
      p.name = req.header("X-Test-User");
      return p;
    };
    ctx_.level = [this](const Principal& p, const std::string&) {
      if (p.anonymous()) return anonymous_level_;
      return p.name == "admin" ? Level::kAdmin : Level::kRead;
    };
    opts_.attempts = 3;
    opts_.backoff = 20ms;
    opts_.timeout_seconds = 1;
  }

  // The hub's API for the service on a real socket.
  struct Api {
    explicit Api(WebhookService& s)
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
      if (!body.empty()) r.headers.push_back("Content-Type: application/json");
      return client.send(r);
    }
    http::HttpServer server;
    uint16_t port;
    registry::HttpClient client;
  };

  ManifestRecord manifest() {
    ManifestRecord m;
    m.digest = "sha256:" + std::string(64, 'a');
    m.media_type = "application/vnd.oci.image.manifest.v1+json";
    m.pushed_unix = 1700000000;
    return m;
  }

  std::string add_hook(WebhookService& s, const std::string& repo, const std::string& url) {
    Api api(s);
    auto r = api.call("POST", "/api/v1/repositories/" + repo + "/webhooks", json{{"name", "ci"}, {"url", url}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("id", "");
  }

  json deliveries(WebhookService& s, const std::string& repo, const std::string& id) {
    Api api(s);
    auto r = api.call("GET", "/api/v1/repositories/" + repo + "/webhooks/" + id + "/deliveries");
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  }

  test::TempDir dir_;
  std::unique_ptr<Database> db_;
  Metadata meta_;
  FileBlobStore blobs_;
  HubContext ctx_;
  Level anonymous_level_ = Level::kRead;
  WebhookService::Options opts_;
};

TEST_F(WebhooksTest, PushSendsDockerHubPayload) {
  Receiver rx({200});
  WebhookService s(ctx_, opts_);
  s.migrate();
  std::string id = add_hook(s, "team/app", rx.url());
  s.start();
  s.on_push("team/app", "v1", manifest(), "alice");
  ASSERT_TRUE(s.wait_idle(5s));
  ASSERT_EQ(rx.bodies().size(), 1u);
  json p = rx.bodies()[0];
  EXPECT_EQ(p["push_data"]["tag"], "v1");
  EXPECT_EQ(p["push_data"]["pusher"], "alice");
  EXPECT_EQ(p["push_data"]["pushed_at"], 1700000000);
  EXPECT_EQ(p["push_data"]["images"][0], manifest().digest);
  EXPECT_EQ(p["repository"]["repo_name"], "team/app");
  EXPECT_EQ(p["repository"]["name"], "app");
  EXPECT_EQ(p["repository"]["namespace"], "team");
  EXPECT_EQ(p["repository"]["owner"], "team");
  EXPECT_EQ(p["repository"]["is_private"], false);
  EXPECT_EQ(p["repository"]["repo_url"], "http://hub.example:5000/#/r/team/app");
  EXPECT_EQ(p["repository"]["status"], "Active");
  std::string cb = p["callback_url"];
  EXPECT_TRUE(cb.starts_with("http://hub.example:5000/api/v1/repositories/team/app/-/webhooks/" + id + "/deliveries/"))
      << cb;

  json d = deliveries(s, "team/app", id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["state"], "success");
  EXPECT_EQ(d[0]["attempts"], 1);
  EXPECT_EQ(d[0]["status_code"], 200);
  EXPECT_FALSE(d[0]["finished"].is_null());
  EXPECT_EQ(d[0]["payload"], p);
}

TEST_F(WebhooksTest, PayloadCarriesTheRepositorysDescriptionStarsAndCreation) {
  Accounts accounts(*db_);
  accounts.ensure_repository("team/app", false);
  accounts.update_repository("team/app", {{"description", "the app"}, {"full_description", "# App"}});
  accounts.star("team/app", "alice", true);
  accounts.star("team/app", "bob", true);
  int64_t created = accounts.repository("team/app")->created;
  Receiver rx({200});
  WebhookService s(ctx_, opts_);
  s.migrate();
  add_hook(s, "team/app", rx.url());
  s.start();
  s.on_push("team/app", "v1", manifest(), "alice");
  ASSERT_TRUE(s.wait_idle(5s));
  ASSERT_EQ(rx.bodies().size(), 1u);
  json r = rx.bodies()[0]["repository"];
  EXPECT_EQ(r["description"], "the app");
  EXPECT_EQ(r["full_description"], "# App");
  EXPECT_EQ(r["star_count"], 2);
  EXPECT_GT(created, 0);
  EXPECT_EQ(r["date_created"], created);
}

TEST_F(WebhooksTest, PrivateRepositoryIsReportedPrivate) {
  anonymous_level_ = Level::kNone;
  WebhookService s(ctx_, opts_);
  s.migrate();
  EXPECT_EQ(s.payload("solo", "latest", manifest(), "", "x")["repository"]["is_private"], true);
  EXPECT_EQ(s.payload("solo", "latest", manifest(), "", "x")["repository"]["namespace"], "library");
}

TEST_F(WebhooksTest, RetriesUntilTheReceiverSucceeds) {
  Receiver rx({500, 503, 200});
  WebhookService s(ctx_, opts_);
  s.migrate();
  std::string id = add_hook(s, "team/app", rx.url());
  s.start();
  s.on_push("team/app", "latest", manifest(), "");
  ASSERT_TRUE(s.wait_idle(5s));
  EXPECT_EQ(rx.bodies().size(), 3u);
  json d = deliveries(s, "team/app", id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["state"], "success");
  EXPECT_EQ(d[0]["attempts"], 3);
  EXPECT_EQ(d[0]["status_code"], 200);
  EXPECT_EQ(d[0]["error"], "");
}

TEST_F(WebhooksTest, GivesUpAfterTheLastAttempt) {
  Receiver rx({500});
  WebhookService s(ctx_, opts_);
  s.migrate();
  std::string id = add_hook(s, "team/app", rx.url());
  s.start();
  s.on_push("team/app", "latest", manifest(), "");
  ASSERT_TRUE(s.wait_idle(5s));
  EXPECT_EQ(rx.bodies().size(), 3u);
  json d = deliveries(s, "team/app", id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["state"], "failed");
  EXPECT_EQ(d[0]["attempts"], 3);
  EXPECT_EQ(d[0]["status_code"], 500);
  EXPECT_EQ(d[0]["error"], "HTTP 500: nope");
}

TEST_F(WebhooksTest, UnreachableReceiverIsLoggedAsAnError) {
  WebhookService s(ctx_, opts_);
  s.migrate();
  // A port nobody listens on: connection refused.
  int port;
  {
    Receiver gone({200});
    port = std::stoi(gone.url().substr(17));
  }
  std::string id = add_hook(s, "team/app", fmt::format("http://127.0.0.1:{}/x", port));
  s.start();
  s.on_push("team/app", "latest", manifest(), "");
  ASSERT_TRUE(s.wait_idle(5s));
  json d = deliveries(s, "team/app", id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["state"], "failed");
  EXPECT_EQ(d[0]["status_code"], 0);
  EXPECT_NE(d[0]["error"].get<std::string>().find("127.0.0.1"), std::string::npos) << d[0]["error"];
}

TEST_F(WebhooksTest, PushDoesNotWaitAndStopDoesNotHangOnASlowReceiver) {
  Receiver rx({200}, 60s);
  WebhookService s(ctx_, opts_);
  s.migrate();
  add_hook(s, "team/app", rx.url());
  s.start();
  auto t0 = std::chrono::steady_clock::now();
  s.on_push("team/app", "latest", manifest(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  for (int i = 0; i < 100 && rx.bodies().empty(); i++) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(rx.bodies().size(), 1u);
  t0 = std::chrono::steady_clock::now();
  s.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
}

// Polls the delivery log until its only delivery is in state after attempts, at most 5 s.
json wait_for_state(const std::function<json()>& log, const std::string& state, int attempts = -1) {
  json d;
  for (int i = 0; i < 500; i++) {
    d = log();
    if (d.size() == 1 && d[0]["state"] == state && (attempts < 0 || d[0]["attempts"] == attempts)) break;
    std::this_thread::sleep_for(10ms);
  }
  return d;
}

TEST_F(WebhooksTest, ADeliveryLeftPendingAtStopIsSentByTheNextStart) {
  Receiver rx({500, 200});
  std::string id;
  {
    WebhookService::Options slow = opts_;
    slow.backoff = 60s;  // stop() comes during the wait before the second attempt
    WebhookService first(ctx_, slow);
    first.migrate();
    id = add_hook(first, "team/app", rx.url());
    first.start();
    first.on_push("team/app", "latest", manifest(), "");
    for (int i = 0; i < 500 && rx.bodies().empty(); i++) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(rx.bodies().size(), 1u);
    json d = wait_for_state([&] { return deliveries(first, "team/app", id); }, "pending", 1);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0]["attempts"], 1);
    first.stop();
  }
  WebhookService next(ctx_, opts_);
  next.start();
  json d = wait_for_state([&] { return deliveries(next, "team/app", id); }, "success");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["state"], "success");
  EXPECT_EQ(d[0]["attempts"], 2) << "continues with the attempts left";
  EXPECT_EQ(rx.bodies().size(), 2u);
}

TEST_F(WebhooksTest, ALeasedDeliveryIsLeftToItsHolderUntilTheLeaseEnds) {
  Receiver rx({200});
  opts_.rescan = 20ms;
  WebhookService s(ctx_, opts_);
  s.migrate();
  std::string id = add_hook(s, "team/app", rx.url());
  s.on_push("team/app", "latest", manifest(), "");  // queued in a service that never starts: a replica's
  WebhookService replica(ctx_, opts_);
  // The replica that queued it holds it (as while it sends).
  db_->exec("UPDATE webhook_deliveries SET lease_until = ?", {unix_seconds_now() + 3600});
  replica.start();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(rx.bodies().empty()) << "sent while another replica held it";
  // That replica crashed: its lease ends, and this one sends the payload.
  db_->exec("UPDATE webhook_deliveries SET lease_until = ?", {unix_seconds_now() - 1});
  json d = wait_for_state([&] { return deliveries(replica, "team/app", id); }, "success");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["state"], "success");
  EXPECT_EQ(rx.bodies().size(), 1u);
}

TEST_F(WebhooksTest, ADeliveryNobodySentForADayFails) {
  Receiver rx({200});
  WebhookService s(ctx_, opts_);
  s.migrate();
  std::string id = add_hook(s, "team/app", rx.url());
  s.on_push("team/app", "latest", manifest(), "");  // queued in a process that stopped before sending it
  db_->exec("UPDATE webhook_deliveries SET created = ?", {unix_seconds_now() - 25 * 3600});
  WebhookService next(ctx_, opts_);
  next.start();
  json d = wait_for_state([&] { return deliveries(next, "team/app", id); }, "failed");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["state"], "failed");
  EXPECT_EQ(d[0]["error"], "not sent in time: berth-hub was not running");
  EXPECT_TRUE(rx.bodies().empty());
}

TEST_F(WebhooksTest, Routes) {
  WebhookService s(ctx_, opts_);
  s.migrate();
  Api api(s);
  const std::string base = "/api/v1/repositories/a/b/webhooks";
  EXPECT_EQ(api.call("POST", base, json{{"name", "x"}, {"url", "ftp://h/x"}}.dump()).status, 400);
  EXPECT_EQ(api.call("POST", base, json{{"name", "x"}, {"url", "http:///x"}}.dump()).status, 400);
  EXPECT_EQ(api.call("POST", base, json{{"name", "x"}, {"url", "http://h/a b"}}.dump()).status, 400);
  EXPECT_EQ(api.call("POST", base, json{{"name", "x"}}.dump()).status, 400);
  // Admin only: a reader is refused, anonymous callers are asked to log in.
  EXPECT_EQ(api.call("GET", base, "", "reader").status, 403);
  EXPECT_EQ(api.call("GET", base, "", "").status, 401);
  anonymous_level_ = Level::kNone;
  EXPECT_EQ(api.call("GET", base, "", "").status, 401);

  auto created = api.call("POST", base, json{{"name", "ci"}, {"url", "https://ci.example/hook?x=1"}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id = json::parse(created.body)["id"];
  // A repository whose last component is "webhooks" is still a repository.
  auto other = api.call("POST", "/api/v1/repositories/a/webhooks/webhooks", json{{"url", "http://h/"}}.dump());
  ASSERT_EQ(other.status, 201) << other.body;
  EXPECT_EQ(json::parse(other.body)["repository"], "a/webhooks");

  json list = json::parse(api.call("GET", base).body);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_EQ(list[0]["name"], "ci");
  EXPECT_EQ(list[0]["url"], "https://ci.example/hook?x=1");
  EXPECT_EQ(json::parse(api.call("GET", base + "/" + id + "/deliveries").body), json::array());
  // Another repository's id is not found here.
  EXPECT_EQ(api.call("DELETE", "/api/v1/repositories/a/webhooks/webhooks/" + id).status, 404);
  EXPECT_EQ(api.call("DELETE", base + "/" + id).status, 204);
  EXPECT_EQ(api.call("DELETE", base + "/" + id).status, 404);
  EXPECT_EQ(json::parse(api.call("GET", base).body), json::array());
  // Not its paths.
  EXPECT_EQ(api.call("GET", "/api/v1/repositories/a/b/builds").body, "not mine");
  EXPECT_EQ(api.call("GET", "/api/v1/search").body, "not mine");
}

TEST_F(WebhooksTest, CallbackRecordsTheReceiversOutcome) {
  Receiver rx({200});
  WebhookService s(ctx_, opts_);
  s.migrate();
  std::string id = add_hook(s, "team/app", rx.url());
  s.start();
  s.on_push("team/app", "latest", manifest(), "");
  ASSERT_TRUE(s.wait_idle(5s));
  std::string cb = rx.bodies().at(0)["callback_url"];
  std::string path = cb.substr(std::string("http://hub.example:5000").size());
  Api api(s);
  EXPECT_EQ(api.call("POST", path, json{{"state", "bogus"}}.dump(), "").status, 400);
  EXPECT_EQ(api.call("POST", path + "x", json{{"state", "success"}}.dump(), "").status, 404);
  auto r = api.call("POST", path, json{{"state", "failure"}, {"description", "tests failed"}}.dump(), "");
  EXPECT_EQ(r.status, 200) << r.body;
  json d = deliveries(s, "team/app", id);
  EXPECT_EQ(d[0]["callback_state"], "failure");
  EXPECT_EQ(d[0]["callback_description"], "tests failed");
}

}  // namespace
}  // namespace berth::hub
