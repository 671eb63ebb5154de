#include "hub/webhooks.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/strings.h"
#include "hub/accounts.h"
#include "hub/names.h"
#include "hub/password.h"
#include "registry/http_client.h"

namespace berth::hub {

using nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "/api/v1/repositories/";

const char* const kSchema[] = {
    "CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, repository TEXT NOT NULL, name TEXT NOT NULL, "
    "url TEXT NOT NULL, created BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhooks_repository ON webhooks (repository)",
    // url is copied so that a delivery still queued when its webhook is
    // deleted can finish (or be read in the log) without it.
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (id TEXT PRIMARY KEY, webhook TEXT NOT NULL, "
    "repository TEXT NOT NULL, url TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, "
    "attempts BIGINT NOT NULL, status_code BIGINT NOT NULL, last_error TEXT NOT NULL, created BIGINT NOT NULL, "
    "finished BIGINT, callback_state TEXT NOT NULL, callback_description TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook ON webhook_deliveries (webhook, created)",
};

// The webhook URL: http(s), a host, nothing curl would read differently
// from what the user sees.
void check_url(const std::string& url) {
  if (url.size() > 2048) throw http::HttpError(400, "url: longer than 2048 characters");
  size_t rest = 0;
  if (url.starts_with("http://")) rest = 7;
  else if (url.starts_with("https://")) rest = 8;
  else throw http::HttpError(400, fmt::format("url {:?}: only http and https URLs are allowed", url));
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) throw http::HttpError(400, fmt::format("url {:?}: contains spaces or control characters", url));
  }
  size_t end = url.find_first_of("/?#", rest);
  std::string host = url.substr(rest, end == std::string::npos ? std::string::npos : end - rest);
  if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  if (host.empty() || host.starts_with(":")) throw http::HttpError(400, fmt::format("url {:?}: no host", url));
}

// A path below /api/v1/repositories/, split into its parts.
struct Route {
  std::string repo;
  std::string id;       // webhook id, or ""
  std::string sub;      // "", "deliveries" or "callback"
  std::string delivery;
};

std::optional<Route> parse(const std::string& path) {
  if (!path.starts_with(kPrefix)) return std::nullopt;
  auto m = match_repository_route(std::string_view(path).substr(kPrefix.size()),
                                  {{"webhooks"},
                                   {"webhooks", "*"},
                                   {"webhooks", "*", "deliveries"},
                                   {"webhooks", "*", "deliveries", "*", "callback"}});
  if (!m) return std::nullopt;
  const std::vector<std::string>& s = m->sub;
  // Webhook and delivery ids are random_token(12): this tells ".../webhooks/<id>" from a repository whose last
  // components are "webhooks/<word>" in the short form.
  if ((s.size() >= 2 && !looks_like_token(s[1], 12)) || (s.size() == 5 && !looks_like_token(s[3], 12))) {
    return std::nullopt;
  }
  Route r{.repo = m->repo};
  if (s.size() >= 2) r.id = s[1];
  if (s.size() >= 3) r.sub = s.size() == 3 ? "deliveries" : "callback";
  if (s.size() == 5) r.delivery = s[3];
  return r;
}

json hook_json(const SqlRow& row) {
  return {{"id", row.text(0)}, {"repository", row.text(1)}, {"name", row.text(2)}, {"url", row.text(3)},
          {"created", row.integer(4)}};
}

}  // namespace

WebhookService::WebhookService(HubContext& ctx, Options opts) : ctx_(ctx), opts_(opts) {
  registry::HttpClientOptions h;
  h.user_agent = "berth-hub-webhooks";
  h.connect_timeout_seconds = opts_.timeout_seconds;
  h.low_speed_seconds = opts_.timeout_seconds;
  h.total_timeout_seconds = opts_.timeout_seconds;  // a receiver trickling bytes must not outlast the lease
  http_ = std::make_shared<registry::HttpClient>(h);
}

WebhookService::~WebhookService() { stop(); }

void WebhookService::migrate() {
  ctx_.db.transaction([](Sql& sql) {
    for (const char* s : kSchema) sql.exec(s);
  });
  add_column_if_missing(ctx_.db, "webhook_deliveries", "lease_until", "BIGINT");
  ctx_.db.exec("CREATE INDEX IF NOT EXISTS webhook_deliveries_pending ON webhook_deliveries (state, lease_until)");
}

int64_t WebhookService::lease_seconds() const {
  // Long enough for every attempt to time out and every backoff to pass,
  // with slack for curl giving up late (see deliver()).
  int attempts = std::clamp(opts_.attempts, 1, 20);
  auto backoffs = std::chrono::duration_cast<std::chrono::seconds>(opts_.backoff * ((1 << attempts) - 1));
  return attempts * (opts_.timeout_seconds + 10) + backoffs.count() + 30;
}

void WebhookService::queue_unleased() {
  int64_t now = unix_seconds_now();
  // Left pending too long (a hub down for days, or deliveries an earlier version never resumed): a payload that
  // late could start a deploy of an image nobody expects any more.
  int64_t too_old = now - std::chrono::duration_cast<std::chrono::seconds>(opts_.max_pending_age).count();
  ctx_.db.exec(
      "UPDATE webhook_deliveries SET state = 'failed', last_error = 'not sent in time: berth-hub was not running', "
      "finished = ? WHERE state = 'pending' AND created < ? AND (lease_until IS NULL OR lease_until < ?)",
      {now, too_old, now});
  auto rows = ctx_.db.query(
      "SELECT id FROM webhook_deliveries WHERE state = 'pending' AND (lease_until IS NULL OR lease_until < ?) "
      "ORDER BY created, id LIMIT 100",
      {now});
  if (rows.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (const SqlRow& row : rows) {
      std::string id = row.text(0);
      if (std::find(queue_.begin(), queue_.end(), id) == queue_.end()) queue_.push_back(std::move(id));
    }
  }
  cv_.notify_all();
}

void WebhookService::release(const std::string& id, int64_t lease) {
  ctx_.db.exec("UPDATE webhook_deliveries SET lease_until = NULL WHERE id = ? AND lease_until = ?", {id, lease});
}

void WebhookService::start() {
  std::lock_guard lock(mu_);
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] { run(); });
}

void WebhookService::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Nothing queued is leased yet: whoever starts next (this process or a replica) finds it.
  std::lock_guard lock(mu_);
  queue_.clear();
}

bool WebhookService::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

bool WebhookService::sleep_unless_stopped(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stopping_; });
}

void WebhookService::run() {
  for (bool rescan = true;;) {
    if (rescan) {
      try {
        queue_unleased();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "berth-hub: webhook deliveries: %s\n", e.what());
      }
    }
    std::string id;
    {
      std::unique_lock lock(mu_);
      // The timeout finds deliveries another replica (or an earlier run of this one) left behind.
      rescan = !cv_.wait_for(lock, opts_.rescan, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (rescan) continue;
      id = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    try {
      deliver(id);
    } catch (const std::exception& e) {
      // The database failed, not the receiver: nothing to record it in.
      std::fprintf(stderr, "berth-hub: webhook delivery %s: %s\n", id.c_str(), e.what());
    }
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    cv_.notify_all();
  }
}

json WebhookService::payload(const std::string& repo, const std::string& tag, const ManifestRecord& m,
                             const std::string& pusher, const std::string& delivery_id) {
  size_t slash = repo.rfind('/');
  // Docker Hub's official images live in the "library" namespace.
  std::string ns = slash == std::string::npos ? "library" : repo.substr(0, slash);
  std::string name = slash == std::string::npos ? repo : repo.substr(slash + 1);
  RepositoryInfo info = Accounts(ctx_.db).repository(repo).value_or(RepositoryInfo{});
  bool is_private = static_cast<int>(ctx_.level(Principal{}, repo)) < static_cast<int>(Level::kRead);
  std::string base = ctx_.public_url;
  while (base.ends_with("/")) base.pop_back();
  json push_data = {{"pushed_at", m.pushed_unix ? m.pushed_unix : unix_seconds_now()},
                    {"pusher", pusher},
                    {"tag", tag},
                    {"images", json::array({m.digest})},
                    {"media_type", m.media_type}};
  return {
      {"callback_url", fmt::format("{}{}{}/-/webhooks/{}/deliveries/{}/callback", base, kPrefix, repo, "{webhook}",
                                   delivery_id)},
      {"push_data", push_data},
      {"repository",
       {{"repo_name", repo},
        {"name", name},
        {"namespace", ns},
        {"owner", ns},
        {"is_private", is_private},
        {"is_official", false},
        {"is_trusted", false},
        {"repo_url", fmt::format("{}/#/r/{}", base, repo)},  // the web UI's repository page
        {"status", "Active"},
        {"date_created", info.created},
        {"star_count", info.star_count},
        {"comment_count", 0},
        {"description", info.description},
        {"full_description", info.full_description},
        {"dockerfile", ""}}},
  };
}

void WebhookService::on_push(const std::string& repo, const std::string& tag, const ManifestRecord& m,
                             const std::string& pusher) {
  auto hooks = ctx_.db.query("SELECT id, url FROM webhooks WHERE repository = ?", {repo});
  if (hooks.empty()) return;
  std::vector<std::string> ids;
  for (const SqlRow& h : hooks) {
    std::string id = random_token(12);
    json p = payload(repo, tag, m, pusher, id);
    std::string cb = p["callback_url"];
    cb.replace(cb.find("{webhook}"), 9, h.text(0));
    p["callback_url"] = cb;
    ctx_.db.exec(
        "INSERT INTO webhook_deliveries (id, webhook, repository, url, payload, state, attempts, status_code, "
        "last_error, created, finished, callback_state, callback_description, lease_until) "
        "VALUES (?, ?, ?, ?, ?, 'pending', 0, 0, '', ?, NULL, '', '', NULL)",
        {id, h.text(0), repo, h.text(1), p.dump(), unix_seconds_now()});
    ids.push_back(std::move(id));
  }
  {
    std::lock_guard lock(mu_);
    for (auto& id : ids) queue_.push_back(std::move(id));
  }
  cv_.notify_all();
}

void WebhookService::deliver(const std::string& id) {
  // Leased by whoever changes the row: a replica may have queued it too, or sent it already.
  int64_t now = unix_seconds_now(), lease = now + lease_seconds();
  if (ctx_.db.exec("UPDATE webhook_deliveries SET lease_until = ? WHERE id = ? AND state = 'pending' AND "
                   "(lease_until IS NULL OR lease_until < ?)",
                   {lease, id, now}) == 0) {
    return;
  }
  auto rows = ctx_.db.query("SELECT url, payload, attempts FROM webhook_deliveries WHERE id = ?", {id});
  if (rows.empty()) return;
  registry::HttpRequest req;
  req.method = "POST";
  req.url = rows[0].text(0);
  req.body = rows[0].text(1);
  req.headers = {"Content-Type: application/json"};
  // A redirected POST turns into a GET with curl's defaults; receivers
  // that move must be reconfigured instead.
  req.follow_redirects = false;
  // A delivery left behind by a stopped process continues where it was.
  int first = static_cast<int>(rows[0].integer(2)) + 1;
  if (first > opts_.attempts) {  // it had every attempt a process with fewer allows
    ctx_.db.exec("UPDATE webhook_deliveries SET state = 'failed', finished = ? WHERE id = ?", {unix_seconds_now(), id});
    return;
  }
  auto backoff = opts_.backoff * (first > 1 ? 1 << (first - 2) : 1);
  for (int attempt = first; attempt <= opts_.attempts; attempt++) {
    if (attempt > 1) {
      if (!sleep_unless_stopped(backoff)) {
        release(id, lease);  // stays pending: whoever starts next sends it
        return;
      }
      backoff *= 2;
    }
    // The attempt runs on a thread of its own that shares nothing with
    // this service but the client and its result, so stop() can leave it
    // behind: curl gives up on a silent receiver only some seconds after
    // timeout_seconds (its speed check averages over the last 5 s).
    struct Attempt {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      long status = 0;
      std::string error;
    };
    auto a = std::make_shared<Attempt>();
    std::thread([a, http = http_, req] {
      long status = 0;
      std::string error;
      try {
        registry::HttpResponse r = http->send(req);
        status = r.status;
        if (!r.ok()) {
          std::string body = r.body.substr(0, 200);
          error = fmt::format("HTTP {}{}{}", status, body.empty() ? "" : ": ", body);
        }
      } catch (const std::exception& e) {
        error = e.what();
      }
      std::lock_guard lock(a->mu);
      a->done = true, a->status = status, a->error = std::move(error);
      a->cv.notify_all();
    }).detach();
    for (;;) {
      std::unique_lock lock(a->mu);
      if (a->cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return a->done; })) break;
      lock.unlock();
      std::lock_guard slock(mu_);
      // Stays pending, leased: the attempt in flight may yet reach the receiver, so nobody retries before the
      // lease ends.
      if (stopping_) return;
    }
    long status = a->status;
    std::string error = a->error;
    bool done = error.empty() || attempt == opts_.attempts;
    std::string state = error.empty() ? "success" : done ? "failed" : "pending";
    // Only while the lease is still ours: past it, another replica may be sending the payload.
    if (ctx_.db.exec(
            "UPDATE webhook_deliveries SET attempts = ?, status_code = ?, last_error = ?, state = ?, finished = ? "
            "WHERE id = ? AND lease_until = ?",
            {int64_t{attempt}, int64_t{status}, error, state, done ? SqlValue(unix_seconds_now()) : SqlValue(nullptr),
             id, lease}) == 0) {
      return;
    }
    if (done) return;
  }
}

bool WebhookService::serve(http::Request& req, http::Response& res) {
  std::optional<Route> r = parse(req.path());
  if (!r) return false;
  if (!is_valid_repository_name(r->repo)) throw http::HttpError(400, fmt::format("invalid repository name {:?}", r->repo));
  const std::string& m = req.method();

  if (r->sub == "callback") {
    // The receiver has no account here: the delivery id in the URL is what
    // Docker Hub's hook token is, proof of having received the payload.
    if (m != "POST") throw http::HttpError(405, "method not allowed");
    json body = req.json_body();
    if (!body.is_object() || !body.value("state", json()).is_string()) throw http::HttpError(400, "want {\"state\": ...}");
    std::string state = body["state"];
    if (state != "success" && state != "failure" && state != "error") {
      throw http::HttpError(400, "state: want success, failure or error");
    }
    std::string desc = body.value("description", json("")).is_string() ? body.value("description", "") : "";
    int64_t n = ctx_.db.exec(
        "UPDATE webhook_deliveries SET callback_state = ?, callback_description = ? "
        "WHERE id = ? AND webhook = ? AND repository = ?",
        {state, desc.substr(0, 255), r->delivery, r->id, r->repo});
    if (n == 0) throw http::HttpError(404, "no such delivery");
    res.send_json(200, {{"state", state}});
    return true;
  }

  require_level(ctx_, req, r->repo, Level::kAdmin);
  if (r->id.empty()) {
    if (m == "GET") {
      json out = json::array();
      for (const SqlRow& row : ctx_.db.query(
               "SELECT id, repository, name, url, created FROM webhooks WHERE repository = ? ORDER BY created, id",
               {r->repo})) {
        out.push_back(hook_json(row));
      }
      res.send_json(200, out);
      return true;
    }
    if (m == "POST") {
      json body = req.json_body();
      if (!body.is_object()) throw http::HttpError(400, "want a JSON object {\"name\", \"url\"}");
      json url = body.value("url", json()), name = body.value("name", json(""));
      if (!url.is_string()) throw http::HttpError(400, "url: required");
      if (!name.is_string() || name.get<std::string>().size() > 255) throw http::HttpError(400, "name: a string up to 255 characters");
      check_url(url);
      std::string id = random_token(12);
      int64_t now = unix_seconds_now();
      ctx_.db.exec("INSERT INTO webhooks (id, repository, name, url, created) VALUES (?, ?, ?, ?, ?)",
                   {id, r->repo, name.get<std::string>(), url.get<std::string>(), now});
      res.send_json(201, {{"id", id}, {"repository", r->repo}, {"name", name}, {"url", url}, {"created", now}});
      return true;
    }
    throw http::HttpError(405, "method not allowed");
  }

  if (r->sub.empty()) {
    if (m == "GET") {
      auto rows = ctx_.db.query(
          "SELECT id, repository, name, url, created FROM webhooks WHERE id = ? AND repository = ?", {r->id, r->repo});
      if (rows.empty()) throw http::HttpError(404, "no such webhook");
      res.send_json(200, hook_json(rows[0]));
      return true;
    }
    if (m == "DELETE") {
      if (ctx_.db.exec("DELETE FROM webhooks WHERE id = ? AND repository = ?", {r->id, r->repo}) == 0) {
        throw http::HttpError(404, "no such webhook");
      }
      res.send(204);
      return true;
    }
    throw http::HttpError(405, "method not allowed");
  }

  // deliveries
  if (m != "GET") throw http::HttpError(405, "method not allowed");
  long long limit = req.query().get_int("n", 100);
  if (limit <= 0 || limit > 1000) limit = 100;
  json out = json::array();
  for (const SqlRow& row : ctx_.db.query(
           "SELECT id, webhook, repository, url, payload, state, attempts, status_code, last_error, created, "
           "finished, callback_state, callback_description FROM webhook_deliveries "
           "WHERE webhook = ? AND repository = ? ORDER BY created DESC, id LIMIT ?",
           {r->id, r->repo, int64_t{limit}})) {
    json payload;
    try {
      payload = json::parse(row.text(4));
    } catch (const json::exception&) {
      payload = row.text(4);
    }
    out.push_back({{"id", row.text(0)},
                   {"webhook", row.text(1)},
                   {"repository", row.text(2)},
                   {"url", row.text(3)},
                   {"payload", payload},
                   {"state", row.text(5)},
                   {"attempts", row.integer(6)},
                   {"status_code", row.integer(7)},
                   {"error", row.text(8)},
                   {"created", row.integer(9)},
                   {"finished", row.is_null(10) ? json() : json(row.integer(10))},
                   {"callback_state", row.text(11)},
                   {"callback_description", row.text(12)}});
  }
  res.send_json(200, out);
  return true;
}

}  // namespace berth::hub
