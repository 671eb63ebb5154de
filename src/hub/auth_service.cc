#include "hub/auth_service.h"

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/clock.h"
#include "base/strings.h"
#include "http/query.h"
#include "hub/names.h"
#include "hub/password.h"
#include "hub/registry_error.h"

namespace berth::hub {

using http::HttpError;
using http::Request;
using http::Response;
using nlohmann::json;

static constexpr const char* kSessionAudience = "berth-hub-session";

AuthService::AuthService(Accounts& accounts, std::function<TokenSigner()> load_signer, AuthOptions options)
    : accounts_(accounts), load_signer_(std::move(load_signer)), options_(std::move(options)) {}

const TokenSigner& AuthService::signer() {
  std::call_once(signer_once_, [this] { signer_.emplace(load_signer_()); });
  return *signer_;
}

TokenSigner signer_from_database(Database& db) {
  db.exec("CREATE TABLE IF NOT EXISTS hub_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
  auto rows = db.query("SELECT value FROM hub_settings WHERE name = 'token_signing_key'");
  if (rows.empty()) {
    // Replicas starting together may each generate one; the first insert wins.
    db.exec("INSERT INTO hub_settings (name, value) VALUES ('token_signing_key', ?) ON CONFLICT (name) DO NOTHING",
            {TokenSigner::generate().private_key_pem()});
    rows = db.query("SELECT value FROM hub_settings WHERE name = 'token_signing_key'");
  }
  if (rows.empty()) fail("the database holds no token signing key");
  return TokenSigner::from_pem(rows[0].text(0));
}

// ---- credentials

Principal AuthService::check_login(Request& req, const std::string& name, const std::string& secret) {
  std::string by_name = "name:" + name, by_addr = "addr:" + req.remote_address();
  int64_t window = kFailureWindow.count();
  int64_t since = unix_seconds_now() - window;
  // Per address a few times the per-name limit: one client may legitimately
  // serve several accounts (a CI machine), but not guess at scale.
  if (accounts_.login_failures_since(by_name, since) >= kMaxFailures ||
      accounts_.login_failures_since(by_addr, since) >= 3 * kMaxFailures) {
    throw HttpError(429, "too many failed login attempts; try again later");
  }
  if (auto p = accounts_.check_credentials(name, secret)) return *p;
  int64_t now = unix_seconds_now();
  accounts_.record_login_failure({by_name, by_addr}, now, now - window);
  throw HttpError(401, "incorrect username or password");
}

Principal AuthService::check_basic(Request& req, const std::string& value) {
  std::string decoded;
  try {
    decoded = base64_decode(trim(value.substr(6)));
  } catch (const Error&) {
    throw HttpError(401, "malformed Basic credentials");
  }
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) throw HttpError(401, "malformed Basic credentials");
  return check_login(req, decoded.substr(0, colon), decoded.substr(colon + 1));
}

static std::string cookie_value(const std::string& header, std::string_view name) {
  for (const std::string& part : split(header, ';')) {
    std::string p(trim(part));
    if (p.size() > name.size() && p.starts_with(name) && p[name.size()] == '=') return p.substr(name.size() + 1);
  }
  return {};
}

Principal AuthService::authenticate(Request& req) {
  std::string auth = req.header("Authorization");
  std::string session;
  if (auth.starts_with("Basic ")) {
    Principal p = check_basic(req, auth);
    return p;
  }
  if (auth.starts_with("Bearer ")) {
    session = trim(auth.substr(7));
  } else {
    session = cookie_value(req.header("Cookie"), "berth_session");
  }
  if (!session.empty()) {
    auto claims = signer().verify(session, unix_seconds_now());
    if (!claims || claims->value("aud", "") != kSessionAudience || !(*claims)["sub"].is_string()) {
      throw HttpError(401, "the session has expired or is invalid; sign in again");
    }
    Principal p = accounts_.principal((*claims)["sub"].get<std::string>());
    if (p.anonymous()) throw HttpError(401, "the session's account no longer exists");
    p.cap = static_cast<Level>(std::clamp<int64_t>(claims->value("cap", int64_t{3}), 1, 3));
    return p;
  }
  if (options_.open) return Principal{.site_admin = true};
  return Principal{};
}

std::string AuthService::login(Request& req, const std::string& name, const std::string& password) {
  Principal p = check_login(req, name, password);
  int64_t now = unix_seconds_now();
  return signer().sign(json{{"iss", options_.service},
                           {"sub", p.name},
                           {"aud", kSessionAudience},
                           {"iat", now},
                           {"nbf", now},
                           {"exp", now + options_.session_ttl},
                           {"cap", static_cast<int>(p.cap)},
                           {"jti", random_token(12)}});
}

// ---- the token endpoint

// Which of the wanted actions ("pull,push") p holds on repo, in docker's order.
std::string AuthService::granted_actions(const Principal& p, const std::string& repo, const std::string& wanted) {
  Level l = accounts_.level(p, repo);
  // Whoever may create a repository by pushing may also read it meanwhile
  // (docker checks for existing blobs before it pushes).
  bool creatable = !accounts_.repository(repo) && accounts_.can_create(p, repo);
  std::vector<std::string> out;
  for (const std::string& a : split(wanted, ',')) {
    bool ok = (a == "pull" && (l >= Level::kRead || creatable)) || (a == "push" && (l >= Level::kWrite || creatable)) ||
              ((a == "delete" || a == "*") && l >= Level::kAdmin);
    if (ok && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return join(out, ",");
}

void AuthService::serve_token(Request& req, Response& res) {
  Principal p;
  http::Query form = req.query();
  if (req.method() == "POST") {
    form = http::Query::parse(req.body());
    std::string grant = form.get("grant_type");
    if (grant == "password") {
      p = check_login(req, form.get("username"), form.get("password"));
    } else if (grant == "refresh_token") {
      p = check_login(req, form.get("username"), form.get("refresh_token"));
    } else {
      throw HttpError(400, fmt::format("unsupported grant_type {:?}", grant));
    }
  } else {
    std::string auth = req.header("Authorization");
    if (auth.starts_with("Basic ")) p = check_basic(req, auth);
  }
  json access = json::array();
  for (const std::string& scope : form.get_all("scope")) {
    for (const std::string& one : split(scope, ' ')) {
      // type:name:actions; names may hold ':' only with a port, which repository names cannot.
      size_t first = one.find(':'), last = one.rfind(':');
      if (first == std::string::npos || first == last) continue;
      std::string type = one.substr(0, first), name = one.substr(first + 1, last - first - 1);
      std::string wanted = one.substr(last + 1);
      std::string actions;
      if (type == "repository" && is_valid_repository_name(name)) {
        actions = options_.open ? wanted : granted_actions(p, name, wanted);
      } else if (type == "registry" && name == "catalog") {
        actions = "*";  // the catalog itself lists only what the caller may read
      }
      json granted = json::array();
      for (const std::string& a : split(actions, ',')) {
        if (!a.empty()) granted.push_back(a);
      }
      access.push_back(json{{"type", type}, {"name", name}, {"actions", granted}});
    }
  }
  int64_t now = unix_seconds_now();
  json claims{{"iss", options_.service},
              {"sub", p.name},
              {"aud", form.get("service", options_.service)},
              {"iat", now},
              {"nbf", now},
              {"exp", now + options_.token_ttl},
              {"jti", random_token(12)},
              {"access", access}};
  std::string token = signer().sign(claims);
  res.send_json(200, json{{"token", token},
                          {"access_token", token},
                          {"expires_in", options_.token_ttl},
                          {"issued_at", now_rfc3339_nano()}});
}

// ---- the registry's checks

struct AuthService::RegistryCaller {
  Principal principal;
  std::optional<std::set<std::string>> token_actions;  // set when a Bearer token was presented
  bool token_names_repo = false;  // the token was issued for this repository (or the catalog)
};

AuthService::RegistryCaller AuthService::registry_caller(Request& req, const std::string& repo) {
  RegistryCaller c;
  std::string auth = req.header("Authorization");
  if (auth.starts_with("Basic ")) {
    c.principal = check_basic(req, auth);
    return c;
  }
  if (!auth.starts_with("Bearer ")) return c;
  auto claims = signer().verify(trim(auth.substr(7)), unix_seconds_now());
  if (!claims || claims->value("aud", "") == kSessionAudience) {
    throw RegistryError(401, "UNAUTHORIZED", "authentication required", "invalid or expired token");
  }
  if ((*claims)["sub"].is_string() && !(*claims)["sub"].get<std::string>().empty()) {
    c.principal = accounts_.principal((*claims)["sub"].get<std::string>());
  }
  c.token_actions.emplace();
  if ((*claims)["access"].is_array()) {
    for (const auto& a : (*claims)["access"]) {
      bool matches = a.value("type", "") == "repository" ? a.value("name", "") == repo
                                                         : repo.empty() && a.value("type", "") == "registry";
      if (!matches || !a["actions"].is_array()) continue;
      c.token_names_repo = true;
      for (const auto& act : a["actions"]) {
        if (act.is_string()) c.token_actions->insert(act.get<std::string>());
      }
    }
  }
  return c;
}

void AuthService::challenge(Response& res, const std::string& scope, const std::string& message) {
  std::string v = fmt::format("Bearer realm=\"{}/token\",service=\"{}\"", options_.public_url, options_.service);
  if (!scope.empty()) v += fmt::format(",scope=\"{}\"", scope);
  res.set_header("WWW-Authenticate", v);
  throw RegistryError(401, "UNAUTHORIZED", message);
}

void AuthService::registry_access(Request& req, Response& res, const std::string& repo, Action action) {
  if (options_.open) return;
  std::string scope;
  if (!repo.empty()) {
    scope = fmt::format("repository:{}:{}", repo,
                        action == Action::kPull ? "pull" : action == Action::kPush ? "pull,push" : "delete");
  } else if (req.path() == "/v2/_catalog") {
    scope = "registry:catalog:*";
  }
  RegistryCaller c;
  try {
    c = registry_caller(req, repo);
  } catch (const HttpError& e) {
    if (e.status() == 429) throw RegistryError(429, "TOOMANYREQUESTS", e.what());
    challenge(res, scope, e.what());
  } catch (const RegistryError& e) {
    challenge(res, scope, e.what());
  }
  bool presented = c.token_actions.has_value() || !c.principal.anonymous();
  if (repo.empty()) {
    // /v2/ and the catalog: any valid credentials (the catalog filters).
    if (!presented) challenge(res, scope, "authentication required");
    return;
  }
  const char* needed = action == Action::kPull ? "pull" : action == Action::kPush ? "push" : "delete";
  // A token issued for other repositories: the client should fetch one for
  // this one (distribution's insufficient_scope), not be told "no".
  if (c.token_actions && !c.token_names_repo) challenge(res, scope, "insufficient scope");
  bool allowed;
  if (c.token_actions) {
    allowed = c.token_actions->count(needed) || c.token_actions->count("*");
  } else {
    allowed = presented && granted_actions(c.principal, repo, needed) == needed;
  }
  if (allowed) {
    if (action == Action::kPush && !accounts_.repository(repo)) {
      accounts_.ensure_repository(repo, options_.default_private);
    }
    return;
  }
  if (!presented || c.principal.anonymous()) challenge(res, scope, "authentication required");
  if (accounts_.level(c.principal, repo) < Level::kRead) {
    throw RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry", json{{"name", repo}});
  }
  throw RegistryError(403, "DENIED", "requested access to the resource is denied");
}

std::string AuthService::caller_name(Request& req) {
  std::string auth = req.header("Authorization");
  if (auth.starts_with("Basic ")) {
    // Already verified by registry_access; only the name is needed here.
    std::string decoded;
    try {
      decoded = base64_decode(trim(auth.substr(6)));
    } catch (const Error&) {
      return {};
    }
    return decoded.substr(0, decoded.find(':'));
  }
  if (auth.starts_with("Bearer ")) {
    auto claims = signer().verify(trim(auth.substr(7)), unix_seconds_now());
    if (claims && (*claims)["sub"].is_string()) return (*claims)["sub"].get<std::string>();
  }
  return {};
}

std::pair<std::string, std::string> AuthService::build_credentials(const std::string& repo) {
  if (options_.open) return {};
  size_t slash = repo.find('/');
  if (slash == std::string::npos) fail("automated builds of top-level repositories ({}) are not supported", repo);
  std::string ns = repo.substr(0, slash), robot = ns + "+autobuild";
  if (!accounts_.exists(robot)) {
    try {
      accounts_.create_robot(ns, "autobuild");
    } catch (const HttpError& e) {
      if (e.status() != 409) throw;  // another replica created it first
    }
  }
  accounts_.grant(repo, robot, /*is_team=*/false, Level::kWrite);
  return {robot, accounts_.create_token(robot, "automated build of " + repo, Level::kWrite, unix_seconds_now() + 3600).second};
}

bool AuthService::can_list(Request& req, const std::string& repo) {
  if (options_.open) return true;
  RegistryCaller c = registry_caller(req, repo);
  return accounts_.level(c.principal, repo) >= Level::kRead;
}

}  // namespace berth::hub
