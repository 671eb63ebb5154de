#include "hub/builds.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <openssl/crypto.h>

#include "base/clock.h"
#include "base/base64.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "build/build_context.h"
#include "cli/api_client.h"
#include "hub/names.h"
#include "hub/password.h"

namespace berth::hub {

using nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "/api/v1/repositories/";
constexpr size_t kMaxLog = size_t{1} << 20;

const char* const kSchema[] = {
    // The git repository a hub repository builds from, and the secret of
    // its trigger URL. baselined: refs seen when the rules were saved are in
    // build_refs (the poller builds only what changes after that).
    "CREATE TABLE IF NOT EXISTS build_sources (repository TEXT PRIMARY KEY, git_url TEXT NOT NULL, "
    "token TEXT NOT NULL, baselined BIGINT NOT NULL, updated BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS build_rules (repository TEXT NOT NULL, position BIGINT NOT NULL, "
    "source_type TEXT NOT NULL, source_name TEXT NOT NULL, dockerfile TEXT NOT NULL, context TEXT NOT NULL, "
    "tag TEXT NOT NULL, PRIMARY KEY (repository, position))",
    "CREATE TABLE IF NOT EXISTS build_refs (repository TEXT NOT NULL, ref TEXT NOT NULL, commit_sha TEXT NOT NULL, "
    "PRIMARY KEY (repository, ref))",
    "CREATE TABLE IF NOT EXISTS builds (id TEXT PRIMARY KEY, repository TEXT NOT NULL, git_url TEXT NOT NULL, "
    "ref_type TEXT NOT NULL, ref TEXT NOT NULL, commit_sha TEXT NOT NULL, tag TEXT NOT NULL, "
    "dockerfile TEXT NOT NULL, context TEXT NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL, "
    "log TEXT NOT NULL, error TEXT NOT NULL, digest TEXT NOT NULL, created BIGINT NOT NULL, started BIGINT, "
    "finished BIGINT)",
    "CREATE INDEX IF NOT EXISTS builds_repository ON builds (repository, created)",
    "CREATE INDEX IF NOT EXISTS builds_status ON builds (status, created)",
};

// A relative path inside the git checkout: "/" and "" are its root.
std::string clean_relative(const std::string& what, const std::string& p, bool allow_root) {
  std::string out;
  for (const std::string& c : split(p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") throw http::HttpError(400, fmt::format("{} {:?}: must stay inside the git repository", what, p));
    out += (out.empty() ? "" : "/") + c;
  }
  if (out.empty() && !allow_root) throw http::HttpError(400, fmt::format("{}: required", what));
  for (unsigned char ch : out) {
    if (ch < 0x20) throw http::HttpError(400, fmt::format("{} {:?}: control characters", what, p));
  }
  return out;
}

// Runs git with no terminal to prompt on, ssh in batch mode and a time
// limit, so a remote that wants credentials or hangs fails instead of
// blocking the poller or a build for ever; and ends it early (SIGTERM to
// `timeout`, which passes it on to git) once cancelled() says so, so that
// stop() does not wait for a slow clone.
ProcessResult git(std::vector<std::string> args, const std::function<bool()>& cancelled) {
  std::vector<std::string> argv = {"env", "GIT_TERMINAL_PROMPT=0", "GIT_SSH_COMMAND=ssh -o BatchMode=yes",
                                   "timeout", "-k", "5", "300", "git", "-c", "protocol.ext.allow=never"};
  argv.insert(argv.end(), args.begin(), args.end());
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd err_r(err[0]), err_w(err[1]);
  pid_t pid = spawn_process(argv, {-1, out_w.get(), err_w.get()}, true);
  out_w.reset();
  err_w.reset();
  ProcessResult r;
  bool signalled = false;
  int status = 0;
  // One read; false once nothing more is there for now (the end closes fd).
  auto drain = [](UniqueFd& fd, std::string& into) {
    char buf[4096];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    int err = n < 0 ? errno : 0;
    if (n > 0) into.append(buf, static_cast<size_t>(n));
    else if (n == 0 || (err != EINTR && err != EAGAIN)) fd.reset();
    return n > 0 || err == EINTR;
  };
  for (;;) {
    pollfd fds[2];
    nfds_t n = 0;
    if (out_r.valid()) fds[n++] = {out_r.get(), POLLIN, 0};
    if (err_r.valid()) fds[n++] = {err_r.get(), POLLIN, 0};
    if (n == 0) break;
    ::poll(fds, n, 100);
    for (nfds_t i = 0; i < n; i++) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (fds[i].fd == out_r.get()) drain(out_r, r.out);
      else drain(err_r, r.err);
    }
    if (!signalled && cancelled && cancelled()) {
      ::kill(pid, SIGTERM);
      signalled = true;
    }
    // A helper git left behind (ssh, git-remote-http) may hold the pipes
    // open after git itself has gone: git's exit ends the wait.
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      break;
    }
  }
  // What git wrote just before it exited is still in the pipes; take it
  // without waiting for a helper's end of them.
  for (UniqueFd* fd : {&out_r, &err_r}) {
    if (!fd->valid()) continue;
    ::fcntl(fd->get(), F_SETFL, ::fcntl(fd->get(), F_GETFL) | O_NONBLOCK);
    while (drain(*fd, fd == &out_r ? r.out : r.err)) {
    }
  }
  if (pid > 0) ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string short_error(const ProcessResult& r) {
  std::string e(trim(r.err.empty() ? r.out : r.err));
  if (e.empty()) e = fmt::format("exit status {}", r.exit_code);
  return e;
}

std::string hub_host(const std::string& public_url) {
  std::string h = public_url;
  if (auto p = h.find("://"); p != std::string::npos) h = h.substr(p + 3);
  while (h.ends_with("/")) h.pop_back();
  return h;
}

json rule_json(const BuildRule& r) {
  return {{"source_type", r.source_type}, {"source_name", r.source_name}, {"dockerfile", r.dockerfile},
          {"context", r.context}, {"tag", r.tag}};
}

BuildRule rule_from(const json& j) {
  if (!j.is_object()) throw http::HttpError(400, "rules: want objects");
  BuildRule r;
  auto str = [&](const char* k, std::string& into) {
    auto it = j.find(k);
    if (it == j.end() || it->is_null()) return;
    if (!it->is_string()) throw http::HttpError(400, fmt::format("rules: {} must be a string", k));
    into = it->get<std::string>();
  };
  str("source_type", r.source_type);
  str("source_name", r.source_name);
  str("dockerfile", r.dockerfile);
  str("context", r.context);
  str("tag", r.tag);
  check_rule(r);
  return r;
}

// Build rows for listings: everything but the log.
constexpr const char* kBuildColumns =
    "id, repository, ref_type, ref, commit_sha, tag, dockerfile, context, reason, status, error, digest, created, "
    "started, finished";

json build_json(const SqlRow& row) {
  auto ts = [&](size_t i) { return row.is_null(i) ? json() : json(row.integer(i)); };
  return {{"id", row.text(0)},         {"repository", row.text(1)}, {"source_type", row.text(2)},
          {"ref", row.text(3)},        {"commit", row.text(4)},     {"tag", row.text(5)},
          {"dockerfile", row.text(6)}, {"context", row.text(7)},    {"reason", row.text(8)},
          {"status", row.text(9)},     {"error", row.text(10)},     {"digest", row.text(11)},
          {"created", row.integer(12)}, {"started", ts(13)},         {"finished", ts(14)}};
}

// Splits a stream of JSON lines (berthd's build and push progress).
class JsonLines {
 public:
  explicit JsonLines(std::function<void(const json&)> fn) : fn_(std::move(fn)) {}
  void feed(std::string_view data) {
    buf_.append(data);
    size_t start = 0, nl;
    while ((nl = buf_.find('\n', start)) != std::string::npos) {
      line(std::string_view(buf_).substr(start, nl - start));
      start = nl + 1;
    }
    buf_.erase(0, start);
  }
  void finish() {
    if (!buf_.empty()) line(buf_);
    buf_.clear();
  }

 private:
  void line(std::string_view l) {
    if (trim(l).empty()) return;
    json j = json::parse(l, nullptr, false);
    if (!j.is_discarded()) fn_(j);
  }
  std::function<void(const json&)> fn_;
  std::string buf_;
};

std::string message_error(const json& m) {
  if (!m.is_object()) return "";
  if (auto e = m.find("error"); e != m.end() && e->is_string()) return *e;
  if (auto d = m.find("errorDetail"); d != m.end() && d->is_object() && d->contains("message")) {
    return (*d)["message"].is_string() ? (*d)["message"].get<std::string>() : d->dump();
  }
  return "";
}

// A peer that hangs up (berthd refusing a build before reading the whole
// context) must give EPIPE, not kill a process that left SIGPIPE at its
// default (tests, embedders): blocked here, the signal stays pending on
// this thread and is dropped when it exits.
void block_sigpipe() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

class Stopped : public Error {
 public:
  Stopped() : Error("berth-hub is stopping") {}
};

}  // namespace

std::optional<std::string> match_rule(const BuildRule& rule, const GitRef& ref) {
  if (rule.source_type != ref.type) return std::nullopt;
  std::smatch m;
  bool is_regex = rule.source_name.size() >= 2 && rule.source_name.front() == '/' && rule.source_name.back() == '/';
  if (is_regex) {
    std::regex re(rule.source_name.substr(1, rule.source_name.size() - 2));
    if (!std::regex_match(ref.name, m, re)) return std::nullopt;
  } else if (rule.source_name != ref.name) {
    return std::nullopt;
  }
  std::string out;
  const std::string& t = rule.tag;
  for (size_t i = 0; i < t.size();) {
    if (t.compare(i, 11, "{sourceref}") == 0) {
      out += ref.name;
      i += 11;
    } else if (t.compare(i, 2, "{\\") == 0 && i + 3 < t.size() && std::isdigit(static_cast<unsigned char>(t[i + 2])) &&
               t[i + 3] == '}') {
      size_t g = t[i + 2] - '0';
      if (is_regex && g < m.size()) out += m[g].str();
      i += 4;
    } else {
      out += t[i++];
    }
  }
  return out;
}

std::vector<GitRef> parse_ls_remote(const std::string& out) {
  std::vector<GitRef> refs;
  std::map<std::string, std::string> peeled;  // annotated tags: the commit they point at
  for (const std::string& line : split(out, '\n')) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string sha = line.substr(0, tab), name(trim(std::string_view(line).substr(tab + 1)));
    if (name.ends_with("^{}")) {
      peeled[name.substr(0, name.size() - 3)] = sha;
    } else if (name.starts_with("refs/heads/")) {
      refs.push_back({"branch", name.substr(11), sha});
    } else if (name.starts_with("refs/tags/")) {
      refs.push_back({"tag", name.substr(10), sha});
    }
  }
  for (GitRef& r : refs) {
    if (r.type != "tag") continue;
    if (auto it = peeled.find("refs/tags/" + r.name); it != peeled.end()) r.commit = it->second;
  }
  return refs;
}

bool is_local_git_url(const std::string& url) { return url.starts_with("/") || url.starts_with("file://"); }

void check_git_url(const std::string& url) {
  if (url.empty()) throw http::HttpError(400, "source: the git repository's URL or path is required");
  if (url.size() > 2048) throw http::HttpError(400, "source: longer than 2048 characters");
  for (unsigned char c : url) {
    if (c < 0x20 || c == 0x7f) throw http::HttpError(400, "source: control characters");
  }
  // git runs a command for ext:: and other "<transport>::" URLs, and takes
  // a leading '-' as an option.
  if (url.find("::") != std::string::npos || url.starts_with("-")) {
    throw http::HttpError(400, fmt::format("source {:?}: not a git URL berth-hub accepts", url));
  }
  for (const char* scheme : {"http://", "https://", "git://", "ssh://", "file://"}) {
    if (url.starts_with(scheme)) return;
  }
  if (url.starts_with("/")) return;
  // scp-like: [user@]host:path
  auto colon = url.find(':');
  if (colon != std::string::npos && colon > 0 && url.find('/') > colon && url.find("://") == std::string::npos) return;
  throw http::HttpError(400, fmt::format("source {:?}: want http(s)://, git://, ssh://, file://, user@host:path "
                                         "or an absolute path",
                                         url));
}

void check_rule(const BuildRule& r) {
  if (r.source_type != "branch" && r.source_type != "tag") {
    throw http::HttpError(400, fmt::format("source_type {:?}: want branch or tag", r.source_type));
  }
  if (r.source_name.empty() || r.source_name.size() > 255) throw http::HttpError(400, "source_name: 1 to 255 characters");
  if (r.source_name.size() >= 2 && r.source_name.front() == '/' && r.source_name.back() == '/') {
    try {
      std::regex re(r.source_name.substr(1, r.source_name.size() - 2));
    } catch (const std::regex_error& e) {
      throw http::HttpError(400, fmt::format("source_name {:?}: bad regular expression: {}", r.source_name, e.what()));
    }
  }
  clean_relative("dockerfile", r.dockerfile, false);
  clean_relative("context", r.context, true);
  if (r.tag.empty() || r.tag.size() > 128) throw http::HttpError(400, "tag: 1 to 128 characters");
}

BuildService::BuildService(HubContext& ctx, Options opts, PushCredentials push_credentials)
    : ctx_(ctx), opts_(std::move(opts)), push_credentials_(std::move(push_credentials)) {}

BuildService::~BuildService() { stop(); }

void BuildService::migrate() {
  ctx_.db.transaction([](Sql& sql) {
    for (const char* s : kSchema) sql.exec(s);
  });
  add_column_if_missing(ctx_.db, "builds", "heartbeat", "BIGINT");
  add_column_if_missing(ctx_.db, "builds", "runner", "TEXT");  // the run that holds the row (random per claim)
  add_column_if_missing(ctx_.db, "builds", "runs", "BIGINT");
}

void BuildService::start() {
  std::lock_guard lock(mu_);
  if (worker_.joinable()) return;
  stopping_ = false;
  heartbeat_stopping_ = false;
  worker_ = std::thread([this] { worker(); });
  heartbeat_ = std::thread([this] { heartbeat(); });
  if (opts_.poll.count() > 0) poller_ = std::thread([this] { poller(); });
}

void BuildService::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Only now: a build that prints nothing may take a while to notice stop(),
  // and without heartbeats meanwhile another replica would run it too.
  {
    std::lock_guard lock(mu_);
    heartbeat_stopping_ = true;
  }
  cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (poller_.joinable()) poller_.join();
}

void BuildService::heartbeat() {
  for (;;) {
    std::string id, runner;
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, opts_.stale / 4, [&] { return heartbeat_stopping_; })) return;
      id = running_;
      runner = runner_;
    }
    if (id.empty()) continue;
    try {
      ctx_.db.exec("UPDATE builds SET heartbeat = ? WHERE id = ? AND runner = ?", {unix_seconds_now(), id, runner});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "berth-hub: build %s: heartbeat: %s\n", id.c_str(), e.what());
    }
  }
}

void BuildService::requeue_abandoned() {
  int64_t now = unix_seconds_now();
  int64_t stale = std::chrono::duration_cast<std::chrono::seconds>(opts_.stale).count();
  // Builds an earlier version started send no heartbeat: only a very old one is presumed dead.
  const std::string abandoned =
      "status = 'running' AND ((heartbeat IS NOT NULL AND heartbeat < ?) OR (heartbeat IS NULL AND started < ?))";
  int64_t beat_before = now - stale, started_before = now - kNoHeartbeatLimit;
  // A build that keeps taking its process down is not run forever.
  ctx_.db.exec("UPDATE builds SET status = 'failure', error = ?, finished = ?, runner = NULL WHERE " + abandoned +
                   " AND COALESCE(runs, 0) >= ?",
               {fmt::format("the process running this build went away {} times", kMaxRuns), now, beat_before,
                started_before, int64_t{kMaxRuns}});
  ctx_.db.exec(
      "UPDATE builds SET status = 'queued', started = NULL, heartbeat = NULL, runner = NULL, "
      "log = log || 'berth-hub: the process running this build went away; it is queued again\n' WHERE " +
          abandoned,
      {beat_before, started_before});
}

bool BuildService::stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool BuildService::wait_idle(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto rows = ctx_.db.query("SELECT COUNT(*) FROM builds WHERE status = 'queued' OR status = 'running'");
    if (rows[0].integer(0) == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::optional<BuildService::Source> BuildService::source(const std::string& repo) {
  auto rows = ctx_.db.query("SELECT git_url, token FROM build_sources WHERE repository = ?", {repo});
  if (rows.empty()) return std::nullopt;
  Source s{rows[0].text(0), {}, rows[0].text(1)};
  for (const SqlRow& r : ctx_.db.query(
           "SELECT source_type, source_name, dockerfile, context, tag FROM build_rules WHERE repository = ? "
           "ORDER BY position",
           {repo})) {
    s.rules.push_back({r.text(0), r.text(1), r.text(2), r.text(3), r.text(4)});
  }
  return s;
}

std::vector<GitRef> BuildService::ls_remote(const std::string& url) {
  ProcessResult r = git({"ls-remote", "--heads", "--tags", "--", url}, [this] { return stopping(); });
  if (!r.ok()) fail("git ls-remote {}: {}", url, short_error(r));
  return parse_ls_remote(r.out);
}

std::vector<std::string> BuildService::queue_matches(const std::string& repo, const Source& src,
                                                     const std::vector<GitRef>& refs, const std::string& reason) {
  std::vector<std::string> ids;
  for (const GitRef& ref : refs) {
    for (const BuildRule& rule : src.rules) {
      std::optional<std::string> tag = match_rule(rule, ref);
      if (!tag) continue;
      std::string id = random_token(12);
      ctx_.db.exec(
          "INSERT INTO builds (id, repository, git_url, ref_type, ref, commit_sha, tag, dockerfile, context, reason, "
          "status, log, error, digest, created, started, finished) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', '', '', '', ?, NULL, NULL)",
          {id, repo, src.git_url, ref.type, ref.name, ref.commit, *tag, rule.dockerfile, rule.context, reason,
           unix_seconds_now()});
      ids.push_back(std::move(id));
    }
  }
  if (!ids.empty()) {
    {
      std::lock_guard lock(mu_);
      kick_ = true;
    }
    cv_.notify_all();
  }
  return ids;
}

std::vector<std::string> BuildService::trigger(const std::string& repo, const std::string& ref,
                                               const std::string& reason) {
  std::optional<Source> src = source(repo);
  if (!src || src->rules.empty()) throw http::HttpError(400, fmt::format("repository {} has no build rules", repo));
  std::vector<GitRef> refs;
  try {
    refs = ls_remote(src->git_url);
  } catch (const Error& e) {
    throw http::HttpError(502, e.what());
  }
  if (!ref.empty()) {
    std::erase_if(refs, [&](const GitRef& r) {
      std::string full = (r.type == "branch" ? "refs/heads/" : "refs/tags/") + r.name;
      return r.name != ref && full != ref;
    });
  }
  std::vector<std::string> ids = queue_matches(repo, *src, refs, reason);
  if (ids.empty()) {
    throw http::HttpError(400, ref.empty() ? "no branch or tag of the git repository matches a build rule"
                                           : fmt::format("no build rule matches {:?}", ref));
  }
  return ids;
}

void BuildService::poll_once() {
  for (const SqlRow& row : ctx_.db.query("SELECT repository, baselined FROM build_sources ORDER BY repository")) {
    if (stopping()) return;
    std::string repo = row.text(0);
    std::optional<Source> src = source(repo);
    if (!src) continue;
    std::vector<GitRef> refs;
    try {
      refs = ls_remote(src->git_url);
    } catch (const Error& e) {
      std::fprintf(stderr, "berth-hub: builds: %s: %s\n", repo.c_str(), e.what());
      continue;
    }
    bool baseline = row.integer(1) == 0;
    std::vector<GitRef> changed;
    for (const GitRef& r : refs) {
      std::string full = (r.type == "branch" ? "refs/heads/" : "refs/tags/") + r.name;
      // Conditional writes: of several replicas polling, only the one whose
      // write changes the row queues the build.
      int64_t n = ctx_.db.exec(
          "INSERT INTO build_refs (repository, ref, commit_sha) VALUES (?, ?, ?) ON CONFLICT (repository, ref) DO NOTHING",
          {repo, full, r.commit});
      if (n == 0) {
        n = ctx_.db.exec("UPDATE build_refs SET commit_sha = ? WHERE repository = ? AND ref = ? AND commit_sha <> ?",
                         {r.commit, repo, full, r.commit});
      }
      if (n > 0) changed.push_back(r);
    }
    if (baseline) {
      ctx_.db.exec("UPDATE build_sources SET baselined = 1 WHERE repository = ?", {repo});
      continue;
    }
    if (!changed.empty()) queue_matches(repo, *src, changed, "git push");
  }
}

void BuildService::poller() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, opts_.poll, [&] { return stopping_; })) return;
    }
    try {
      poll_once();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "berth-hub: builds: poll: %s\n", e.what());
    }
  }
}

void BuildService::worker() {
  block_sigpipe();
  for (;;) {
    std::string id, runner;
    try {
      requeue_abandoned();
      auto rows = ctx_.db.query("SELECT id FROM builds WHERE status = 'queued' ORDER BY created, id LIMIT 1");
      if (!rows.empty()) {
        id = rows[0].text(0);
        // Claimed by whoever flips it; another replica may have been first.
        int64_t now = unix_seconds_now();
        runner = random_token(12);
        if (ctx_.db.exec("UPDATE builds SET status = 'running', started = ?, heartbeat = ?, runner = ?, "
                         "runs = COALESCE(runs, 0) + 1 WHERE id = ? AND status = 'queued'",
                         {now, now, runner, id}) == 0) {
          continue;
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "berth-hub: builds: %s\n", e.what());
      id.clear();
    }
    if (id.empty()) {
      std::unique_lock lock(mu_);
      // Wakes for builds queued here; the timeout finds those queued by
      // another replica.
      cv_.wait_for(lock, std::chrono::seconds(5), [&] { return stopping_ || kick_; });
      kick_ = false;
      if (stopping_) return;
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        ctx_.db.exec("UPDATE builds SET status = 'queued', started = NULL, runner = NULL, runs = runs - 1 "
                     "WHERE id = ? AND runner = ?",
                     {id, runner});
        return;
      }
      running_ = id;
      runner_ = runner;
    }
    try {
      run_build(id, runner);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "berth-hub: build %s: %s\n", id.c_str(), e.what());
    }
    {
      std::lock_guard lock(mu_);
      running_.clear();
      runner_.clear();
    }
    cv_.notify_all();
  }
}

void BuildService::run_build(const std::string& id, const std::string& runner) {
  auto rows = ctx_.db.query(
      "SELECT repository, git_url, ref, commit_sha, tag, dockerfile, context, log FROM builds WHERE id = ?", {id});
  if (rows.empty()) return;
  std::string repo = rows[0].text(0), url = rows[0].text(1), ref = rows[0].text(2), tag = rows[0].text(4);
  std::string dockerfile = rows[0].text(5), context = rows[0].text(6);

  std::string log = rows[0].text(7);  // a build run again keeps what its interrupted run wrote
  auto last_flush = std::chrono::steady_clock::now();
  auto flush = [&] {
    // Every write names this run: once another replica has taken the build over, this one changes nothing.
    ctx_.db.exec("UPDATE builds SET log = ? WHERE id = ? AND runner = ?", {log, id, runner});
    last_flush = std::chrono::steady_clock::now();
  };
  auto append = [&](std::string_view s) {
    if (log.size() < kMaxLog) {
      log.append(s.substr(0, kMaxLog - log.size()));
      if (log.size() == kMaxLog) log += "\n[log truncated]\n";
    }
    if (std::chrono::steady_clock::now() - last_flush > std::chrono::milliseconds(500)) flush();
  };

  std::string tmp;
  try {
    if (!is_valid_tag(tag)) fail("tag {:?} (from the rule's template) is not a valid tag", tag);
    std::string work = opts_.work_dir;
    if (work.empty()) work = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    std::string templ = work + "/berth-hub-build-XXXXXX";
    if (!::mkdtemp(templ.data())) fail_errno("mkdtemp {}", templ);
    tmp = templ;
    std::string src = tmp + "/src";

    append(fmt::format("Cloning {} ({})\n", url, ref));
    ProcessResult r = git({"clone", "--quiet", "--depth", "1", "--branch", ref, "--", url, src}, [this] { return stopping(); });
    append(r.err);
    if (stopping()) throw Stopped();
    if (!r.ok()) fail("git clone {} {}: {}", url, ref, short_error(r));
    ProcessResult head = git({"-C", src, "rev-parse", "HEAD"}, nullptr);
    if (!head.ok()) fail("git rev-parse HEAD: {}", short_error(head));
    std::string commit(trim(head.out));
    ctx_.db.exec("UPDATE builds SET commit_sha = ? WHERE id = ? AND runner = ?", {commit, id, runner});
    append(fmt::format("Building commit {}\n", commit));

    std::string rel = clean_relative("context", context, true);
    std::string dir = rel.empty() ? src : src + "/" + rel;
    std::string df = clean_relative("dockerfile", dockerfile, false);
    // Symlinks in the repository must not take the context outside it.
    std::string real_src = std::filesystem::canonical(src), real_dir = std::filesystem::canonical(dir);
    if (real_dir != real_src && !real_dir.starts_with(real_src + "/")) {
      fail("context {:?} leaves the git repository", context);
    }

    std::string image = fmt::format("{}/{}", hub_host(ctx_.public_url), repo);
    cli::ApiClient api(opts_.berthd);
    std::string build_error, image_id;
    JsonLines build_lines([&](const json& m) {
      if (!m.is_object()) return;
      if (auto s = m.find("stream"); s != m.end() && s->is_string()) append(s->get<std::string>());
      if (auto s = m.find("status"); s != m.end() && s->is_string()) append(s->get<std::string>() + "\n");
      if (std::string e = message_error(m); !e.empty()) build_error = e;
      if (auto a = m.find("aux"); a != m.end() && a->is_object() && a->contains("ID")) image_id = (*a)["ID"].dump();
    });
    auto sink = [&](JsonLines& lines) {
      return [&](std::string_view data) {
        if (stopping()) throw Stopped();
        lines.feed(data);
      };
    };
    {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
      UniqueFd rd(p[0]), wr(p[1]);
      std::exception_ptr tar_error;
      std::thread writer([&, dir, df] {
        block_sigpipe();
        try {
          build::ContextTarOptions o;
          o.keep = df;
          build::write_context_tar(dir, o, wr.get());
        } catch (...) {
          tar_error = std::current_exception();
        }
        wr.reset();
      });
      std::string target = "/build" + cli::Query()
                                          .add("t", image + ":" + tag)
                                          .add("dockerfile", df)
                                          .add("rm", "1")
                                          .add("forcerm", "1")
                                          .str();
      try {
        api.upload("POST", target, rd.get(), "application/x-tar", sink(build_lines));
        build_lines.finish();
      } catch (...) {
        // berthd stopped reading: the writer gets EPIPE instead of waiting.
        rd.reset();
        writer.join();
        throw;
      }
      rd.reset();
      writer.join();
      if (tar_error && build_error.empty()) std::rethrow_exception(tar_error);
    }
    if (!build_error.empty()) fail("build: {}", build_error);

    auto [user, password] = push_credentials_ ? push_credentials_(repo) : std::pair<std::string, std::string>{};
    std::string auth = base64_encode(
        json{{"username", user}, {"password", password}, {"serveraddress", hub_host(ctx_.public_url)}}.dump());
    for (char& c : auth) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
    api.set_header("X-Registry-Auth", auth);
    append(fmt::format("Pushing {}:{}\n", image, tag));
    std::string push_error, digest;
    JsonLines push_lines([&](const json& m) {
      if (!m.is_object()) return;
      // Progress bars are noise in a stored log; the steps are not.
      auto s = m.find("status");
      if (s != m.end() && s->is_string() && (!m.contains("progressDetail") || m["progressDetail"].empty())) {
        std::string idp = m.contains("id") && m["id"].is_string() ? m["id"].get<std::string>() + ": " : "";
        append(idp + s->get<std::string>() + "\n");
        // docker's last push line, "<tag>: digest: sha256:... size: N",
        // for daemons that send no aux record.
        std::string st = *s;
        if (auto at = st.find(": digest: "); at != std::string::npos && digest.empty()) {
          digest = st.substr(at + 10, st.find(' ', at + 10) - (at + 10));
        }
      }
      if (std::string e = message_error(m); !e.empty()) push_error = e;
      if (auto a = m.find("aux"); a != m.end() && a->is_object() && a->contains("Digest") && (*a)["Digest"].is_string()) {
        digest = (*a)["Digest"];
      }
    });
    api.stream("POST", fmt::format("/images/{}/push{}", image, cli::Query().add("tag", tag).str()), sink(push_lines));
    push_lines.finish();
    if (!push_error.empty()) fail("push: {}", push_error);
    // The image lives in the hub now; the build daemon keeps no tag of it.
    try {
      api.request("DELETE", fmt::format("/images/{}:{}", image, tag));
    } catch (const Error&) {
    }
    append(fmt::format("Pushed {}:{} {}\n", image, tag, digest));
    flush();
    ctx_.db.exec("UPDATE builds SET status = 'success', digest = ?, log = ?, finished = ? WHERE id = ? AND runner = ?",
                 {digest, log, unix_seconds_now(), id, runner});
  } catch (const Stopped&) {
    // Interrupted, not failed: the next start() runs it again.
    append("berth-hub stopped: the build is queued again\n");
    ctx_.db.exec("UPDATE builds SET status = 'queued', started = NULL, runner = NULL, runs = runs - 1, log = ? "
                 "WHERE id = ? AND runner = ?",
                 {log, id, runner});
  } catch (const std::exception& e) {
    append(fmt::format("ERROR: {}\n", e.what()));
    ctx_.db.exec("UPDATE builds SET status = 'failure', error = ?, log = ?, finished = ? WHERE id = ? AND runner = ?",
                 {std::string(e.what()), log, unix_seconds_now(), id, runner});
  }
  if (!tmp.empty()) {
    try {
      remove_all(tmp);
    } catch (const Error& e) {
      std::fprintf(stderr, "berth-hub: build %s: %s\n", id.c_str(), e.what());
    }
  }
}

bool BuildService::serve(http::Request& req, http::Response& res) {
  const std::string& path = req.path();
  if (!path.starts_with(kPrefix)) return false;
  auto route = match_repository_route(std::string_view(path).substr(kPrefix.size()),
                                      {{"builds", "trigger", "*"}, {"builds", "*"}, {"builds"}, {"build-rules"}});
  if (!route) return false;
  const std::vector<std::string>& sub = route->sub;
  enum { kRules, kBuilds, kBuild, kTrigger } what;
  const std::string& repo = route->repo;
  std::string arg = sub.size() > 1 ? sub.back() : "";
  if (sub.size() == 3) {
    what = kTrigger;
  } else if (sub.size() == 2) {
    // A build id is random_token(12); anything else is a repository ending in "builds/<word>".
    if (!looks_like_token(arg, 12)) return false;
    what = kBuild;
  } else {
    what = sub[0] == "builds" ? kBuilds : kRules;
  }
  if (!is_valid_repository_name(repo)) throw http::HttpError(400, fmt::format("invalid repository name {:?}", repo));
  const std::string& m = req.method();
  auto body_ref = [&] {
    json b = req.json_body();
    if (b.is_null()) return std::string();
    if (!b.is_object()) throw http::HttpError(400, "want a JSON object");
    json ref = b.value("ref", json(""));
    if (!ref.is_string()) throw http::HttpError(400, "ref: want a string");
    return ref.get<std::string>();
  };
  auto builds_answer = [&](const std::vector<std::string>& ids) {
    json out = json::array();
    for (const std::string& id : ids) {
      auto rows = ctx_.db.query(fmt::format("SELECT {} FROM builds WHERE id = ?", kBuildColumns), {id});
      if (!rows.empty()) out.push_back(build_json(rows[0]));
    }
    res.send_json(202, {{"builds", out}});
  };

  if (what == kTrigger) {
    if (m != "POST") throw http::HttpError(405, "method not allowed");
    std::optional<Source> src = source(repo);
    // The same answer for a wrong token and an unknown repository.
    if (!src || src->token.empty() || src->token.size() != arg.size() ||
        CRYPTO_memcmp(src->token.data(), arg.data(), arg.size()) != 0) {
      throw http::HttpError(404, "no such trigger");
    }
    builds_answer(trigger(repo, body_ref(), "trigger URL"));
    return true;
  }

  if (what == kRules) {
    if (m == "GET") {
      require_level(ctx_, req, repo, Level::kAdmin);
      std::optional<Source> src = source(repo);
      json rules = json::array();
      if (src) {
        for (const BuildRule& r : src->rules) rules.push_back(rule_json(r));
      }
      std::string base = ctx_.public_url;
      while (base.ends_with("/")) base.pop_back();
      res.send_json(200, {{"source", src ? src->git_url : ""},
                          {"rules", rules},
                          {"trigger_url", src ? fmt::format("{}{}{}/-/builds/trigger/{}", base, kPrefix, repo, src->token)
                                              : ""}});
      return true;
    }
    if (m != "PUT") throw http::HttpError(405, "method not allowed");
    require_level(ctx_, req, repo, Level::kAdmin);
    json b = req.json_body();
    if (!b.is_object()) throw http::HttpError(400, "want {\"source\": <git URL>, \"rules\": [...]}");
    json url = b.value("source", json(""));
    if (!url.is_string()) throw http::HttpError(400, "source: want a string");
    json jr = b.value("rules", json::array());
    if (!jr.is_array() || jr.size() > 50) throw http::HttpError(400, "rules: want an array of at most 50 rules");
    std::vector<BuildRule> rules;
    for (const json& r : jr) rules.push_back(rule_from(r));
    check_git_url(url);
    if (is_local_git_url(url) && !opts_.local_sources && !ctx_.authenticate(req).site_admin) {
      throw http::HttpError(403, fmt::format("source {:?}: a path on the hub's file system; only site admins may "
                                             "build from one (berth-hub serve --build-local-sources allows it "
                                             "to every repository admin)",
                                             url.get<std::string>()));
    }
    // Reading the refs now checks the URL and makes them the baseline: the
    // poller builds what is pushed from now on, not all history.
    std::vector<GitRef> refs;
    try {
      refs = ls_remote(url);
    } catch (const Error& e) {
      throw http::HttpError(400, e.what());
    }
    std::optional<Source> old = source(repo);
    std::string token = old && !old->token.empty() && !b.value("new_token", false) ? old->token : random_token(24);
    ctx_.db.transaction([&](Sql& sql) {
      sql.exec("DELETE FROM build_rules WHERE repository = ?", {repo});
      sql.exec("DELETE FROM build_refs WHERE repository = ?", {repo});
      sql.exec(
          "INSERT INTO build_sources (repository, git_url, token, baselined, updated) VALUES (?, ?, ?, 1, ?) "
          "ON CONFLICT (repository) DO UPDATE SET git_url = excluded.git_url, token = excluded.token, "
          "baselined = 1, updated = excluded.updated",
          {repo, url.get<std::string>(), token, unix_seconds_now()});
      for (size_t i = 0; i < rules.size(); i++) {
        const BuildRule& r = rules[i];
        sql.exec(
            "INSERT INTO build_rules (repository, position, source_type, source_name, dockerfile, context, tag) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            {repo, static_cast<int64_t>(i), r.source_type, r.source_name, r.dockerfile, r.context, r.tag});
      }
      for (const GitRef& r : refs) {
        sql.exec("INSERT INTO build_refs (repository, ref, commit_sha) VALUES (?, ?, ?)",
                 {repo, (r.type == "branch" ? "refs/heads/" : "refs/tags/") + r.name, r.commit});
      }
    });
    json out = json::array();
    for (const BuildRule& r : rules) out.push_back(rule_json(r));
    std::string base = ctx_.public_url;
    while (base.ends_with("/")) base.pop_back();
    res.send_json(200, {{"source", url},
                        {"rules", out},
                        {"trigger_url", fmt::format("{}{}{}/-/builds/trigger/{}", base, kPrefix, repo, token)}});
    return true;
  }

  if (what == kBuilds) {
    if (m == "POST") {
      require_level(ctx_, req, repo, Level::kAdmin);
      builds_answer(trigger(repo, body_ref(), "API"));
      return true;
    }
    if (m != "GET") throw http::HttpError(405, "method not allowed");
    require_level(ctx_, req, repo, Level::kRead);
    long long n = req.query().get_int("n", 50);
    if (n <= 0 || n > 500) n = 50;
    json out = json::array();
    for (const SqlRow& row : ctx_.db.query(
             fmt::format("SELECT {} FROM builds WHERE repository = ? ORDER BY created DESC, id LIMIT ?", kBuildColumns),
             {repo, int64_t{n}})) {
      out.push_back(build_json(row));
    }
    res.send_json(200, out);
    return true;
  }

  // kBuild
  if (m != "GET") throw http::HttpError(405, "method not allowed");
  require_level(ctx_, req, repo, Level::kRead);
  auto rows = ctx_.db.query(fmt::format("SELECT {}, log FROM builds WHERE id = ? AND repository = ?", kBuildColumns),
                            {arg, repo});
  if (rows.empty()) throw http::HttpError(404, "no such build");
  json b = build_json(rows[0]);
  b["log"] = rows[0].text(15);
  res.send_json(200, b);
  return true;
}

}  // namespace berth::hub
