#include "hub/policies.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "http/query.h"
#include "hub/names.h"
#include "hub/registry_error.h"

namespace berth::hub {

using nlohmann::json;

static const char* const kPolicySchema[] = {
    "CREATE TABLE IF NOT EXISTS namespace_quotas (namespace TEXT PRIMARY KEY, limit_bytes BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS repository_policies (repository TEXT PRIMARY KEY, policy TEXT NOT NULL, "
    "updated BIGINT NOT NULL)",
};

bool glob_match(std::string_view p, std::string_view s) {
  // Iterative with one backtrack point: a later `*` supersedes an earlier one.
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string namespace_of(std::string_view repo) { return std::string(repo.substr(0, repo.find('/'))); }

// ---- policy JSON

json policy_to_json(const RepositoryPolicy& p) {
  json j{{"immutable_tags", p.immutable_tags}, {"retention", nullptr}};
  if (p.retention) {
    json r{{"pattern", p.retention->pattern}, {"keep_last", nullptr}, {"older_than_days", nullptr}};
    if (p.retention->keep_last) r["keep_last"] = *p.retention->keep_last;
    if (p.retention->older_than_days) r["older_than_days"] = *p.retention->older_than_days;
    j["retention"] = r;
  }
  return j;
}

static bool valid_pattern(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-' || c == '*' || c == '?';
  });
}

static std::optional<int64_t> optional_count(const json& r, const char* key) {
  if (!r.contains(key) || r[key].is_null()) return std::nullopt;
  if (!r[key].is_number_integer() || r[key].get<int64_t>() < 0) {
    fail("retention.{}: want a non-negative integer, got {}", key, r[key].dump());
  }
  return r[key].get<int64_t>();
}

RepositoryPolicy policy_from_json(const json& j) {
  if (!j.is_object()) fail("policy: want a JSON object, got {}", j.dump());
  RepositoryPolicy p;
  if (j.contains("immutable_tags") && !j["immutable_tags"].is_null()) {
    if (!j["immutable_tags"].is_array()) fail("immutable_tags: want an array of tag patterns");
    for (const auto& t : j["immutable_tags"]) {
      if (!t.is_string() || !valid_pattern(t.get<std::string>())) {
        fail("immutable_tags: {} is not a tag pattern (tag characters, `*` and `?`)", t.dump());
      }
      p.immutable_tags.push_back(t.get<std::string>());
    }
  }
  if (j.contains("retention") && !j["retention"].is_null()) {
    const json& r = j["retention"];
    if (!r.is_object()) fail("retention: want an object or null");
    RetentionRule rule;
    rule.keep_last = optional_count(r, "keep_last");
    rule.older_than_days = optional_count(r, "older_than_days");
    if (r.contains("pattern") && !r["pattern"].is_null()) {
      if (!r["pattern"].is_string() || !valid_pattern(r["pattern"].get<std::string>())) {
        fail("retention.pattern: {} is not a tag pattern (tag characters, `*` and `?`)", r["pattern"].dump());
      }
      rule.pattern = r["pattern"].get<std::string>();
    }
    if (!rule.keep_last && !rule.older_than_days) fail("retention: set keep_last, older_than_days or both");
    p.retention = rule;
  }
  return p;
}

std::vector<std::string> select_retention(const RetentionRule& rule, const std::vector<std::string>& immutable,
                                          std::vector<TagInfo> tags, int64_t now_unix) {
  auto is_immutable = [&](const std::string& t) {
    return std::any_of(immutable.begin(), immutable.end(), [&](const std::string& p) { return glob_match(p, t); });
  };
  std::erase_if(tags, [&](const TagInfo& t) { return !glob_match(rule.pattern, t.tag) || is_immutable(t.tag); });
  // Newest first; within one second, the greater name counts as newer (v10 after v9 pushed together is rare,
  // but a deterministic order is what matters).
  std::sort(tags.begin(), tags.end(), [](const TagInfo& a, const TagInfo& b) {
    return a.updated_unix != b.updated_unix ? a.updated_unix > b.updated_unix : a.tag > b.tag;
  });
  std::vector<std::string> out;
  for (size_t i = 0; i < tags.size(); ++i) {
    bool beyond = rule.keep_last ? i >= static_cast<size_t>(*rule.keep_last) : true;
    bool old = rule.older_than_days ? tags[i].updated_unix < now_unix - *rule.older_than_days * 86400 : true;
    if (!rule.keep_last && !rule.older_than_days) beyond = old = false;
    if (beyond && old) out.push_back(tags[i].tag);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- Policies

void Policies::migrate() {
  for (const char* stmt : kPolicySchema) db_.exec(stmt);
  migrate_gc(db_);
}

std::optional<int64_t> Policies::quota(const std::string& ns) {
  auto rows = db_.query("SELECT limit_bytes FROM namespace_quotas WHERE namespace = ?", {ns});
  if (rows.empty()) return std::nullopt;
  return rows[0].integer(0);
}

void Policies::set_quota(const std::string& ns, std::optional<int64_t> limit_bytes) {
  if (!limit_bytes) {
    db_.exec("DELETE FROM namespace_quotas WHERE namespace = ?", {ns});
    return;
  }
  db_.exec("INSERT INTO namespace_quotas (namespace, limit_bytes) VALUES (?, ?) "
           "ON CONFLICT (namespace) DO UPDATE SET limit_bytes = excluded.limit_bytes",
           {ns, *limit_bytes});
}

// Repositories of ns: the name itself or "ns/...". substr with a computed
// length, not LIKE: `_` is a LIKE wildcard and legal in names.
static constexpr const char* kInNamespace = "(repository = ? OR substr(repository, 1, ?) = ?)";

static std::vector<SqlValue> ns_params(const std::string& ns) {
  return {ns, static_cast<int64_t>(ns.size() + 1), ns + "/"};
}

int64_t Policies::used_bytes(const std::string& ns) {
  auto rows = db_.query(fmt::format("SELECT COALESCE(SUM(size), 0) FROM (SELECT digest, MAX(size) AS size FROM "
                                    "repository_blobs WHERE {} GROUP BY digest) AS b",
                                    kInNamespace),
                        ns_params(ns));
  return rows.empty() ? 0 : rows[0].integer(0);
}

RepositoryPolicy Policies::policy(const std::string& repo) {
  auto rows = db_.query("SELECT policy FROM repository_policies WHERE repository = ?", {repo});
  if (rows.empty()) return {};
  return policy_from_json(json::parse(rows[0].text(0)));
}

void Policies::set_policy(const std::string& repo, const RepositoryPolicy& p) {
  if (p.immutable_tags.empty() && !p.retention) {
    db_.exec("DELETE FROM repository_policies WHERE repository = ?", {repo});
    return;
  }
  db_.exec("INSERT INTO repository_policies (repository, policy, updated) VALUES (?, ?, ?) "
           "ON CONFLICT (repository) DO UPDATE SET policy = excluded.policy, updated = excluded.updated",
           {repo, policy_to_json(p).dump(), unix_seconds_now()});
}

bool Policies::tag_immutable(const std::string& repo, const std::string& tag) {
  for (const auto& p : policy(repo).immutable_tags) {
    if (glob_match(p, tag)) return true;
  }
  return false;
}

void Policies::admit_blob(const std::string& repo, const std::string& digest, int64_t size) {
  record_blob_use(db_, {digest});
  std::string ns = namespace_of(repo);
  auto limit = quota(ns);
  if (!limit) return;
  std::vector<SqlValue> params{digest};
  for (auto& v : ns_params(ns)) params.push_back(std::move(v));
  if (!db_.query(fmt::format("SELECT 1 FROM repository_blobs WHERE digest = ? AND {}", kInNamespace), params)
           .empty()) {
    return;  // the namespace has these bytes already: linking costs nothing
  }
  int64_t used = used_bytes(ns);
  if (used + size > *limit) {
    throw RegistryError(403, "DENIED",
                        fmt::format("quota exceeded for namespace {}: used {} of {} bytes", ns, used, *limit),
                        json{{"namespace", ns}, {"used_bytes", used}, {"limit_bytes", *limit}, {"blob_size", size}});
  }
}

void Policies::admit_manifest(const std::string& repo, const std::string& tag, const std::string& digest,
                              const std::vector<std::string>& references) {
  std::vector<std::string> uses = references;
  uses.push_back(digest);
  record_blob_use(db_, uses);
  if (tag.empty() || !tag_immutable(repo, tag)) return;
  auto current = meta_.tag_digest(repo, tag);
  if (current && *current != digest) {
    throw RegistryError(403, "DENIED",
                        fmt::format("tag {} of {} is immutable: it names {} and cannot be moved to {}", tag, repo,
                                    *current, digest),
                        json{{"tag", tag}, {"digest", *current}});
  }
}

void Policies::admit_tag_delete(const std::string& repo, const std::string& tag) {
  if (tag_immutable(repo, tag) && meta_.tag_digest(repo, tag)) {
    throw RegistryError(403, "DENIED", fmt::format("tag {} of {} is immutable and cannot be deleted", tag, repo),
                        json{{"tag", tag}});
  }
}

void Policies::admit_manifest_delete(const std::string& repo, const std::string& digest) {
  auto p = policy(repo);
  if (p.immutable_tags.empty()) return;
  for (const auto& r : db_.query("SELECT tag FROM tags WHERE repository = ? AND digest = ? ORDER BY tag",
                                 {repo, digest})) {
    std::string tag = r.text(0);
    for (const auto& pat : p.immutable_tags) {
      if (glob_match(pat, tag)) {
        throw RegistryError(403, "DENIED",
                            fmt::format("manifest {} of {} has the immutable tag {} and cannot be deleted", digest,
                                        repo, tag),
                            json{{"tag", tag}});
      }
    }
  }
}

std::vector<std::string> Policies::run_retention(const std::string& repo, bool dry_run, int64_t now_unix) {
  RepositoryPolicy p = policy(repo);
  if (!p.retention) return {};
  std::vector<TagInfo> tags;
  for (const auto& r : db_.query("SELECT tag, digest, updated FROM tags WHERE repository = ?", {repo})) {
    tags.push_back(TagInfo{r.text(0), r.text(1), r.integer(2)});
  }
  std::vector<TagInfo> all = tags;
  auto doomed = select_retention(*p.retention, p.immutable_tags, std::move(tags), now_unix ? now_unix : unix_seconds_now());
  if (dry_run) return doomed;
  std::vector<std::string> removed;
  for (const auto& name : doomed) {
    auto it = std::find_if(all.begin(), all.end(), [&](const TagInfo& t) { return t.tag == name; });
    // Only the tag as selected: a push that moved it since keeps it.
    if (db_.exec("DELETE FROM tags WHERE repository = ? AND tag = ? AND digest = ? AND updated = ?",
                 {repo, name, it->digest, it->updated_unix}) > 0) {
      removed.push_back(name);
    }
  }
  return removed;
}

int64_t Policies::run_all_retention() {
  int64_t removed = 0;
  std::vector<std::string> errors;
  for (const auto& r : db_.query("SELECT repository FROM repository_policies ORDER BY repository")) {
    try {
      removed += static_cast<int64_t>(run_retention(r.text(0)).size());
    } catch (const std::exception& e) {
      errors.push_back(fmt::format("{}: {}", r.text(0), e.what()));
    }
  }
  if (!errors.empty()) fail("retention: {}", fmt::join(errors, "; "));
  return removed;
}

// ---- PolicyApi

using http::HttpError;

static Principal caller(HubContext& ctx, http::Request& req) {
  return ctx.authenticate ? ctx.authenticate(req) : Principal{};
}

[[noreturn]] static void refuse(const Principal& p, const std::string& what) {
  if (p.anonymous()) throw HttpError(401, fmt::format("authentication required to {}", what));
  throw HttpError(403, fmt::format("{} may not {}", p.name, what));
}

static json body_object(http::Request& req) {
  json j = req.json_body();
  if (j.is_null()) return json::object();
  if (!j.is_object()) throw HttpError(400, "request body: want a JSON object");
  return j;
}

static bool flag(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean()) throw HttpError(400, fmt::format("{}: want true or false", key));
  return j[key].get<bool>();
}

bool PolicyApi::serve(http::Request& req, http::Response& res) {
  const std::string& path = req.path();
  static constexpr std::string_view kRepos = "/api/v1/repositories/", kNs = "/api/v1/namespaces/";
  if (path == "/api/v1/gc") {
    gc(req, res);
    return true;
  }
  if (path.starts_with(kNs) && path.ends_with("/quota")) {
    std::string ns = path.substr(kNs.size(), path.size() - kNs.size() - 6);
    if (ns.find('/') != std::string::npos || !is_valid_repository_name(ns)) {
      throw HttpError(400, fmt::format("invalid namespace {:?}", ns));
    }
    quota(req, res, ns);
    return true;
  }
  if (path.starts_with(kRepos)) {
    auto route = match_repository_route(std::string_view(path).substr(kRepos.size()), {{"policies"}, {"retention", "run"}});
    if (!route) return false;
    if (!is_valid_repository_name(route->repo)) {
      throw HttpError(400, fmt::format("invalid repository name {:?}", route->repo));
    }
    if (route->sub[0] == "policies") {
      policies(req, res, route->repo);
    } else {
      retention_run(req, res, route->repo);
    }
    return true;
  }
  return false;
}

void PolicyApi::gc(http::Request& req, http::Response& res) {
  if (req.method() != "POST") throw HttpError(405, "use POST to run garbage collection");
  Principal p = caller(ctx_, req);
  if (!p.site_admin) refuse(p, "run garbage collection (site admins only)");
  json j = body_object(req);
  GcOptions o;
  o.dry_run = flag(j, "dry_run");
  o.delete_untagged = flag(j, "delete_untagged");
  if (j.contains("grace_seconds") && !j["grace_seconds"].is_null()) {
    if (!j["grace_seconds"].is_number_integer() || j["grace_seconds"].get<int64_t>() < 0) {
      throw HttpError(400, "grace_seconds: want a non-negative integer");
    }
    o.grace_seconds = j["grace_seconds"].get<int64_t>();
  }
  GcReport r;
  try {
    r = gc_.run(o);
  } catch (const GcBusy& e) {
    throw HttpError(409, e.what());
  }
  res.send_json(200, json{{"dry_run", o.dry_run},
                          {"manifests_deleted", r.manifests_deleted},
                          {"blobs_freed", r.blobs_freed},
                          {"bytes_freed", r.bytes_freed},
                          {"blobs_restored", r.blobs_restored},
                          {"freed", r.freed}});
}

void PolicyApi::quota(http::Request& req, http::Response& res, const std::string& ns) {
  Principal p = caller(ctx_, req);
  const std::string& m = req.method();
  if (m == "PUT") {
    if (!p.site_admin) refuse(p, fmt::format("set the quota of namespace {} (site admins only)", ns));
    json j = body_object(req);
    if (!j.contains("limit_bytes")) throw HttpError(400, "limit_bytes: missing (null removes the quota)");
    std::optional<int64_t> limit;
    if (!j["limit_bytes"].is_null()) {
      if (!j["limit_bytes"].is_number_integer() || j["limit_bytes"].get<int64_t>() < 0) {
        throw HttpError(400, "limit_bytes: want a non-negative integer or null");
      }
      limit = j["limit_bytes"].get<int64_t>();
    }
    policies_.set_quota(ns, limit);
  } else if (m == "GET") {
    bool ns_admin = p.site_admin || (ctx_.owns_namespace && ctx_.owns_namespace(p, ns));
    if (!ns_admin) refuse(p, fmt::format("read the quota of namespace {}", ns));
  } else {
    throw HttpError(405, "use GET or PUT on a quota");
  }
  auto limit = policies_.quota(ns);
  res.send_json(200, json{{"namespace", ns},
                          {"limit_bytes", limit ? json(*limit) : json(nullptr)},
                          {"used_bytes", policies_.used_bytes(ns)}});
}

void PolicyApi::policies(http::Request& req, http::Response& res, const std::string& repo) {
  const std::string& m = req.method();
  if (m != "GET" && m != "PUT") throw HttpError(405, "use GET or PUT on policies");
  require_level(ctx_, req, repo, Level::kAdmin);
  if (m == "PUT") {
    RepositoryPolicy p;
    try {
      p = policy_from_json(body_object(req));
    } catch (const HttpError&) {
      throw;
    } catch (const Error& e) {
      throw HttpError(400, e.what());
    }
    policies_.set_policy(repo, p);
  }
  json j = policy_to_json(policies_.policy(repo));
  j["repository"] = repo;
  res.send_json(200, j);
}

void PolicyApi::retention_run(http::Request& req, http::Response& res, const std::string& repo) {
  if (req.method() != "POST") throw HttpError(405, "use POST to run retention");
  require_level(ctx_, req, repo, Level::kAdmin);
  bool dry_run = flag(body_object(req), "dry_run");
  auto removed = policies_.run_retention(repo, dry_run);
  res.send_json(200, json{{"repository", repo}, {"dry_run", dry_run}, {"removed", removed}});
}

}  // namespace berth::hub
