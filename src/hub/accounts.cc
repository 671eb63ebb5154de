#include "hub/accounts.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "base/clock.h"
#include "http/query.h"
#include "hub/names.h"

namespace berth::hub {

using http::HttpError;
using nlohmann::json;

static const char* const kSchema[] = {
    "CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, kind TEXT NOT NULL, password_hash TEXT NOT NULL, "
    "email TEXT NOT NULL, site_admin BIGINT NOT NULL, created BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS teams (org TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (org, name))",
    "CREATE TABLE IF NOT EXISTS team_members (org TEXT NOT NULL, team TEXT NOT NULL, member TEXT NOT NULL, "
    "PRIMARY KEY (org, team, member))",
    "CREATE TABLE IF NOT EXISTS access_tokens (id TEXT PRIMARY KEY, account TEXT NOT NULL, secret_hash TEXT NOT NULL, "
    "description TEXT NOT NULL, scope BIGINT NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL, "
    "last_used BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS repository_settings (repository TEXT PRIMARY KEY, is_private BIGINT NOT NULL, "
    "description TEXT NOT NULL, full_description TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS repository_grants (repository TEXT NOT NULL, principal TEXT NOT NULL, "
    "is_team BIGINT NOT NULL, level BIGINT NOT NULL, PRIMARY KEY (repository, principal, is_team))",
    "CREATE TABLE IF NOT EXISTS stars (repository TEXT NOT NULL, account TEXT NOT NULL, "
    "PRIMARY KEY (repository, account))",
    "CREATE TABLE IF NOT EXISTS login_failures (failure_key TEXT NOT NULL, at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (failure_key, at)",
    "CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at)",
};

std::string level_name(Level l) {
  switch (l) {
    case Level::kRead: return "read";
    case Level::kWrite: return "write";
    case Level::kAdmin: return "admin";
    default: return "none";
  }
}

std::optional<Level> parse_level(std::string_view s) {
  if (s == "read" || s == "pull") return Level::kRead;
  if (s == "write" || s == "push") return Level::kWrite;
  if (s == "admin") return Level::kAdmin;
  return std::nullopt;
}

void Accounts::migrate() {
  for (const char* stmt : kSchema) db_.exec(stmt);
}

int64_t Accounts::login_failures_since(const std::string& key, int64_t since_unix) {
  return db_.query("SELECT COUNT(*) FROM login_failures WHERE failure_key = ? AND at >= ?", {key, since_unix})[0]
      .integer(0);
}

void Accounts::record_login_failure(const std::vector<std::string>& keys, int64_t at_unix,
                                    int64_t forget_before_unix) {
  for (const std::string& key : keys) {
    db_.exec("INSERT INTO login_failures (failure_key, at) VALUES (?, ?)", {key, at_unix});
  }
  db_.exec("DELETE FROM login_failures WHERE at < ?", {forget_before_unix});
}

// An account name is one repository-name component (it names a namespace).
static void check_account_name(const std::string& name) {
  if (name.size() < 2 || name.size() > 64 || name.find('/') != std::string::npos ||
      !is_valid_repository_name(name)) {
    throw HttpError(400, fmt::format("invalid name {:?}: use 2-64 lowercase letters, digits, '.', '_' or '-'", name));
  }
}

static void insert_account(Database& db, const std::string& name, const std::string& kind, const std::string& hash,
                           const std::string& email, bool admin) {
  try {
    db.exec("INSERT INTO accounts (name, kind, password_hash, email, site_admin, created) VALUES (?, ?, ?, ?, ?, ?)",
            {name, kind, hash, email, int64_t{admin}, unix_seconds_now()});
  } catch (const SqlConstraintError&) {
    throw HttpError(409, fmt::format("the name {} is already taken", name));
  }
}

void Accounts::create_user(const std::string& name, const std::string& password, const std::string& email,
                           bool site_admin) {
  check_account_name(name);
  if (password.size() < 8) throw HttpError(400, "the password must have at least 8 characters");
  insert_account(db_, name, "user", hash_password(password, cost_), email, site_admin);
}

void Accounts::set_password(const std::string& name, const std::string& password) {
  if (password.size() < 8) throw HttpError(400, "the password must have at least 8 characters");
  if (db_.exec("UPDATE accounts SET password_hash = ? WHERE name = ? AND kind = 'user'",
               {hash_password(password, cost_), name}) == 0) {
    throw HttpError(404, fmt::format("no user {}", name));
  }
}

void Accounts::create_org(const std::string& name, const std::string& owner) {
  check_account_name(name);
  db_.transaction([&](Sql& sql) {
    try {
      sql.exec("INSERT INTO accounts (name, kind, password_hash, email, site_admin, created) "
               "VALUES (?, 'org', '', '', 0, ?)",
               {name, unix_seconds_now()});
    } catch (const SqlConstraintError&) {
      throw HttpError(409, fmt::format("the name {} is already taken", name));
    }
    sql.exec("INSERT INTO teams (org, name) VALUES (?, 'owners')", {name});
    sql.exec("INSERT INTO team_members (org, team, member) VALUES (?, 'owners', ?)", {name, owner});
  });
}

bool Accounts::exists(const std::string& name) {
  return !db_.query("SELECT 1 FROM accounts WHERE name = ?", {name}).empty();
}

bool Accounts::is_org(const std::string& name) {
  return !db_.query("SELECT 1 FROM accounts WHERE name = ? AND kind = 'org'", {name}).empty();
}

json Accounts::user_json(const std::string& name) {
  auto rows = db_.query("SELECT name, kind, email, site_admin, created FROM accounts WHERE name = ?", {name});
  if (rows.empty()) throw HttpError(404, fmt::format("no account {}", name));
  json orgs = json::array();
  for (const auto& r : db_.query("SELECT DISTINCT org FROM team_members WHERE member = ? ORDER BY org", {name})) {
    orgs.push_back(r.text(0));
  }
  return json{{"username", rows[0].text(0)}, {"kind", rows[0].text(1)},          {"email", rows[0].text(2)},
              {"site_admin", rows[0].integer(3) != 0}, {"date_joined", rows[0].integer(4)}, {"orgs", orgs}};
}

void Accounts::create_team(const std::string& org, const std::string& team) {
  check_account_name(team);
  if (!is_org(org)) throw HttpError(404, fmt::format("no organization {}", org));
  try {
    db_.exec("INSERT INTO teams (org, name) VALUES (?, ?)", {org, team});
  } catch (const SqlConstraintError&) {
    throw HttpError(409, fmt::format("team {} already exists in {}", team, org));
  }
}

bool Accounts::team_exists(const std::string& org, const std::string& team) {
  return !db_.query("SELECT 1 FROM teams WHERE org = ? AND name = ?", {org, team}).empty();
}

void Accounts::add_team_member(const std::string& org, const std::string& team, const std::string& user) {
  if (!team_exists(org, team)) {
    throw HttpError(404, fmt::format("no team {} in {}", team, org));
  }
  if (db_.query("SELECT 1 FROM accounts WHERE name = ? AND kind <> 'org'", {user}).empty()) {
    throw HttpError(404, fmt::format("no user {}", user));
  }
  db_.exec("INSERT INTO team_members (org, team, member) VALUES (?, ?, ?) ON CONFLICT (org, team, member) DO NOTHING",
           {org, team, user});
}

bool Accounts::remove_team_member(const std::string& org, const std::string& team, const std::string& user) {
  return db_.exec("DELETE FROM team_members WHERE org = ? AND team = ? AND member = ?", {org, team, user}) > 0;
}

json Accounts::teams_json(const std::string& org) {
  json out = json::array();
  for (const auto& t : db_.query("SELECT name FROM teams WHERE org = ? ORDER BY name", {org})) {
    json members = json::array();
    for (const auto& m : db_.query("SELECT member FROM team_members WHERE org = ? AND team = ? ORDER BY member",
                                   {org, t.text(0)})) {
      members.push_back(m.text(0));
    }
    out.push_back(json{{"name", t.text(0)}, {"members", members}});
  }
  return out;
}

Principal Accounts::principal(const std::string& name) {
  auto rows = db_.query("SELECT kind, site_admin FROM accounts WHERE name = ?", {name});
  if (rows.empty() || rows[0].text(0) == "org") return Principal{};
  return Principal{.name = name, .site_admin = rows[0].integer(1) != 0, .robot = rows[0].text(0) == "robot"};
}

std::optional<Principal> Accounts::check_password(const std::string& name, const std::string& password) {
  auto rows = db_.query("SELECT password_hash FROM accounts WHERE name = ? AND kind = 'user'", {name});
  // Hash anyway when the user does not exist, so timing does not tell
  // which names exist.
  std::string stored = rows.empty() ? hash_password("timing", cost_) : rows[0].text(0);
  if (!verify_password(password, stored) || rows.empty()) return std::nullopt;
  return principal(name);
}

std::optional<Principal> Accounts::check_token(const std::string& token) {
  // bhp_<id>_<secret>
  if (!token.starts_with("bhp_")) return std::nullopt;
  size_t sep = token.find('_', 4);
  if (sep == std::string::npos) return std::nullopt;
  std::string id = token.substr(4, sep - 4);
  std::string secret = token.substr(sep + 1);
  auto rows = db_.query("SELECT account, secret_hash, scope, expires FROM access_tokens WHERE id = ?", {id});
  if (rows.empty() || !verify_password(secret, rows[0].text(1))) return std::nullopt;
  int64_t expires = rows[0].integer(3);
  if (expires != 0 && expires < unix_seconds_now()) return std::nullopt;
  db_.exec("UPDATE access_tokens SET last_used = ? WHERE id = ?", {unix_seconds_now(), id});
  Principal p = principal(rows[0].text(0));
  if (p.anonymous()) return std::nullopt;
  p.cap = static_cast<Level>(std::clamp<int64_t>(rows[0].integer(2), 1, 3));
  return p;
}

std::optional<Principal> Accounts::check_credentials(const std::string& name, const std::string& secret) {
  if (secret.starts_with("bhp_")) {
    auto p = check_token(secret);
    // The token must belong to the name given (docker sends both).
    if (p && (name.empty() || name == p->name)) return p;
    return std::nullopt;
  }
  return check_password(name, secret);
}

std::pair<std::string, std::string> Accounts::create_token(const std::string& user, const std::string& description,
                                                           Level scope, int64_t expires_unix) {
  // Token secrets are random (not chosen by people), so the slow hash's cost
  // buys nothing; the cheapest acceptable cost keeps registry logins fast.
  std::string id = random_token(9);
  std::replace(id.begin(), id.end(), '_', 'x');  // '_' separates id and secret
  std::string secret = random_token(24);
  db_.exec("INSERT INTO access_tokens (id, account, secret_hash, description, scope, created, expires, last_used) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
           {id, user, hash_password(secret, kTestScryptCost), description, static_cast<int64_t>(scope), unix_seconds_now(),
            expires_unix});
  return {id, fmt::format("bhp_{}_{}", id, secret)};
}

json Accounts::tokens_json(const std::string& user) {
  json out = json::array();
  for (const auto& r : db_.query("SELECT id, description, scope, created, expires, last_used FROM access_tokens "
                                 "WHERE account = ? ORDER BY created, id",
                                 {user})) {
    out.push_back(json{{"id", r.text(0)},
                       {"description", r.text(1)},
                       {"scope", level_name(static_cast<Level>(r.integer(2)))},
                       {"created", r.integer(3)},
                       {"expires", r.integer(4)},
                       {"last_used", r.integer(5)}});
  }
  return out;
}

bool Accounts::delete_token(const std::string& user, const std::string& id) {
  return db_.exec("DELETE FROM access_tokens WHERE account = ? AND id = ?", {user, id}) > 0;
}

std::pair<std::string, std::string> Accounts::create_robot(const std::string& ns, const std::string& name) {
  check_account_name(name);
  if (!exists(ns)) throw HttpError(404, fmt::format("no namespace {}", ns));
  std::string robot = ns + "+" + name;
  insert_account(db_, robot, "robot", "", "", false);
  return {robot, create_token(robot, "robot " + robot, Level::kAdmin).second};
}

std::optional<RepositoryInfo> Accounts::repository(const std::string& repo) {
  auto rows = db_.query(
      "SELECT r.name, r.created, COALESCE(s.is_private, 0), COALESCE(s.description, ''), "
      "COALESCE(s.full_description, ''), (SELECT COUNT(*) FROM stars WHERE repository = r.name) "
      "FROM repositories r LEFT JOIN repository_settings s ON s.repository = r.name WHERE r.name = ?",
      {repo});
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  return RepositoryInfo{.name = r.text(0),
                        .is_private = r.integer(2) != 0,
                        .description = r.text(3),
                        .full_description = r.text(4),
                        .star_count = r.integer(5),
                        .created = r.integer(1)};
}

void Accounts::ensure_repository(const std::string& repo, bool is_private) {
  db_.transaction([&](Sql& sql) {
    sql.exec("INSERT INTO repositories (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
             {repo, unix_seconds_now()});
    sql.exec("INSERT INTO repository_settings (repository, is_private, description, full_description) "
             "VALUES (?, ?, '', '') ON CONFLICT (repository) DO NOTHING",
             {repo, int64_t{is_private}});
  });
}

void Accounts::update_repository(const std::string& repo, const json& patch) {
  auto info = repository(repo);
  if (!info) throw HttpError(404, fmt::format("no repository {}", repo));
  auto text = [&](const char* key, const std::string& old) {
    if (!patch.contains(key)) return old;
    if (!patch[key].is_string()) throw HttpError(400, fmt::format("{} must be a string", key));
    return patch[key].get<std::string>();
  };
  bool is_private = info->is_private;
  if (patch.contains("is_private")) {
    if (!patch["is_private"].is_boolean()) throw HttpError(400, "is_private must be a boolean");
    is_private = patch["is_private"].get<bool>();
  }
  std::string description = text("description", info->description);
  if (description.size() > 100) throw HttpError(400, "the description is limited to 100 characters");
  std::string full = text("full_description", info->full_description);
  if (full.size() > 100000) throw HttpError(400, "the full description is limited to 100000 characters");
  db_.exec("INSERT INTO repository_settings (repository, is_private, description, full_description) "
           "VALUES (?, ?, ?, ?) ON CONFLICT (repository) DO UPDATE SET is_private = excluded.is_private, "
           "description = excluded.description, full_description = excluded.full_description",
           {repo, int64_t{is_private}, description, full});
}

void Accounts::grant(const std::string& repo, const std::string& principal, bool is_team, Level level) {
  db_.exec("INSERT INTO repository_grants (repository, principal, is_team, level) VALUES (?, ?, ?, ?) "
           "ON CONFLICT (repository, principal, is_team) DO UPDATE SET level = excluded.level",
           {repo, principal, int64_t{is_team}, static_cast<int64_t>(level)});
}

bool Accounts::revoke(const std::string& repo, const std::string& principal, bool is_team) {
  return db_.exec("DELETE FROM repository_grants WHERE repository = ? AND principal = ? AND is_team = ?",
                  {repo, principal, int64_t{is_team}}) > 0;
}

json Accounts::grants_json(const std::string& repo) {
  json users = json::array(), teams = json::array();
  for (const auto& r : db_.query("SELECT principal, is_team, level FROM repository_grants WHERE repository = ? "
                                 "ORDER BY is_team, principal",
                                 {repo})) {
    json g{{"name", r.text(0)}, {"permission", level_name(static_cast<Level>(r.integer(2)))}};
    (r.integer(1) ? teams : users).push_back(g);
  }
  return json{{"collaborators", users}, {"teams", teams}};
}

void Accounts::star(const std::string& repo, const std::string& user, bool on) {
  if (on) {
    db_.exec("INSERT INTO stars (repository, account) VALUES (?, ?) ON CONFLICT (repository, account) DO NOTHING",
             {repo, user});
  } else {
    db_.exec("DELETE FROM stars WHERE repository = ? AND account = ?", {repo, user});
  }
}

static std::string namespace_of(const std::string& repo) {
  size_t slash = repo.find('/');
  return slash == std::string::npos ? std::string() : repo.substr(0, slash);
}

bool Accounts::owns_namespace(const Principal& p, const std::string& ns) {
  if (p.anonymous() || ns.empty()) return false;
  if (p.site_admin) return true;
  if (p.robot) return false;
  if (p.name == ns) return true;
  return !db_.query("SELECT 1 FROM team_members WHERE org = ? AND team = 'owners' AND member = ?", {ns, p.name})
              .empty();
}

Level Accounts::level(const Principal& p, const std::string& repo) {
  auto info = repository(repo);
  if (!info) return Level::kNone;
  Level l = info->is_private ? Level::kNone : Level::kRead;
  if (p.site_admin || owns_namespace(p, namespace_of(repo))) {
    l = Level::kAdmin;
  } else if (!p.anonymous()) {
    std::string ns = namespace_of(repo);
    for (const auto& r : db_.query(
             "SELECT level FROM repository_grants WHERE repository = ? AND ((is_team = 0 AND principal = ?) OR "
             "(is_team = 1 AND principal IN (SELECT team FROM team_members WHERE org = ? AND member = ?)))",
             {repo, p.name, ns, p.name})) {
      l = std::max(l, static_cast<Level>(r.integer(0)));
    }
  }
  return std::min(l, p.cap);
}

bool Accounts::can_create(const Principal& p, const std::string& repo) {
  if (p.cap < Level::kWrite) return false;
  std::string ns = namespace_of(repo);
  if (ns.empty()) return p.site_admin;  // top-level names ("busybox") are the site's
  return owns_namespace(p, ns);
}

std::vector<RepositoryInfo> Accounts::search(const Principal& p, const std::string& query) {
  std::string q = query;
  std::transform(q.begin(), q.end(), q.begin(), [](unsigned char c) { return std::tolower(c); });
  std::vector<RepositoryInfo> out;
  for (const auto& r : db_.query("SELECT r.name, COALESCE(s.description, '') FROM repositories r "
                                 "LEFT JOIN repository_settings s ON s.repository = r.name ORDER BY r.name")) {
    std::string name = r.text(0), desc = r.text(1);
    std::string hay = name + "\n" + desc;
    std::transform(hay.begin(), hay.end(), hay.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!q.empty() && hay.find(q) == std::string::npos) continue;
    if (level(p, name) < Level::kRead) continue;
    if (auto info = repository(name)) out.push_back(*info);
  }
  return out;
}

}  // namespace berth::hub
