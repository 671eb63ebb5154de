#include "hub/hub_api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "hub/names.h"
#include "image/media_types.h"

namespace berth::hub {

using http::HttpError;
using http::Request;
using http::Response;
using nlohmann::json;

HubApi::HubApi(HubContext& ctx, Accounts& accounts, AuthService& auth, HubApiOptions options)
    : ctx_(ctx), accounts_(accounts), auth_(auth), options_(options) {}

static json body_object(Request& req) {
  json j = req.json_body();
  if (!j.is_object()) throw HttpError(400, "the request body must be a JSON object");
  return j;
}

static std::string string_field(const json& j, const char* key, bool required = true) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) throw HttpError(400, fmt::format("missing {}", key));
    return {};
  }
  if (!j[key].is_string()) throw HttpError(400, fmt::format("{} must be a string", key));
  return j[key].get<std::string>();
}

static Principal require_user(const Principal& p) {
  if (p.anonymous() && !p.site_admin) throw HttpError(401, "sign in first");
  return p;
}

bool HubApi::serve(Request& req, Response& res) {
  const std::string& path = req.path();
  if (path == "/v1/search") {
    search_v1(req, res);
    return true;
  }
  static constexpr std::string_view kPrefix = "/api/v1/";
  if (!path.starts_with(kPrefix)) return false;
  std::string rest = path.substr(kPrefix.size());
  auto under = [&](std::string_view top) {
    return rest == top || (rest.size() > top.size() && rest.starts_with(top) && rest[top.size()] == '/');
  };
  if (rest == "login" && req.method() == "POST") {
    json b = body_object(req);
    std::string token = auth_.login(req, string_field(b, "username"), string_field(b, "password"));
    res.set_header("Set-Cookie", fmt::format("berth_session={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", token,
                                             auth_.options().session_ttl));
    res.send_json(200, json{{"token", token}});
    return true;
  }
  if (rest == "logout" && req.method() == "POST") {
    res.set_header("Set-Cookie", "berth_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    res.send_json(200, json::object());
    return true;
  }
  if (under("users") || rest == "user") {
    users(req, res, rest);
  } else if (under("orgs")) {
    orgs(req, res, rest.substr(4));
  } else if (under("tokens")) {
    tokens(req, res, rest.substr(6));
  } else if (under("namespaces")) {
    robots(req, res, rest.substr(10));
  } else if (under("repositories")) {
    repositories(req, res, rest.substr(12));
  } else {
    return false;
  }
  return true;
}

// ---- users, organizations, tokens, robots

void HubApi::users(Request& req, Response& res, const std::string& rest) {
  Principal p = auth_.authenticate(req);
  if (rest == "user" && req.method() == "GET") {
    if (p.anonymous()) throw HttpError(401, "sign in first");
    res.send_json(200, accounts_.user_json(p.name));
    return;
  }
  if (rest == "users" && req.method() == "POST") {
    if (!options_.allow_signup && !p.site_admin) throw HttpError(403, "sign-up is closed; ask an administrator");
    json b = body_object(req);
    std::string name = string_field(b, "username");
    accounts_.create_user(name, string_field(b, "password"), string_field(b, "email", false),
                          p.site_admin && b.value("site_admin", false));
    res.send_json(201, accounts_.user_json(name));
    return;
  }
  if (rest.starts_with("users/") && req.method() == "GET") {
    res.send_json(200, accounts_.user_json(rest.substr(6)));
    return;
  }
  throw HttpError(405, "method not allowed");
}

void HubApi::orgs(Request& req, Response& res, const std::string& rest) {
  Principal p = require_user(auth_.authenticate(req));
  std::vector<std::string> parts = split(rest, '/');  // "", org, "teams", team, "members", user
  if (rest.empty() && req.method() == "POST") {
    json b = body_object(req);
    std::string name = string_field(b, "name");
    if (p.anonymous()) throw HttpError(403, "an organization needs a user as its first owner");
    accounts_.create_org(name, p.name);
    res.send_json(201, json{{"name", name}, {"teams", accounts_.teams_json(name)}});
    return;
  }
  if (parts.size() < 3 || parts[2] != "teams") throw HttpError(404, "no such route");
  const std::string& org = parts[1];
  if (!accounts_.is_org(org)) throw HttpError(404, fmt::format("no organization {}", org));
  bool owner = accounts_.owns_namespace(p, org);
  if (parts.size() == 3 && req.method() == "GET") {
    res.send_json(200, accounts_.teams_json(org));
    return;
  }
  if (!owner) throw HttpError(403, fmt::format("only owners of {} may change its teams", org));
  if (parts.size() == 3 && req.method() == "POST") {
    std::string team = string_field(body_object(req), "name");
    accounts_.create_team(org, team);
    res.send_json(201, json{{"name", team}, {"members", json::array()}});
    return;
  }
  if (parts.size() == 6 && parts[4] == "members") {
    if (req.method() == "PUT") {
      accounts_.add_team_member(org, parts[3], parts[5]);
      res.send_json(200, accounts_.teams_json(org));
      return;
    }
    if (req.method() == "DELETE") {
      if (!accounts_.remove_team_member(org, parts[3], parts[5])) throw HttpError(404, "no such member");
      res.send(204);
      return;
    }
  }
  throw HttpError(405, "method not allowed");
}

void HubApi::tokens(Request& req, Response& res, const std::string& rest) {
  Principal p = require_user(auth_.authenticate(req));
  if (p.anonymous()) throw HttpError(401, "sign in first");
  if (rest.empty() && req.method() == "GET") {
    res.send_json(200, accounts_.tokens_json(p.name));
    return;
  }
  if (rest.empty() && req.method() == "POST") {
    json b = body_object(req);
    auto scope = parse_level(b.value("scope", "write"));
    if (!scope) throw HttpError(400, "scope must be read, write or admin");
    // A token never holds more than the session that made it.
    auto [id, token] = accounts_.create_token(p.name, b.value("description", ""), std::min(*scope, p.cap),
                                              b.value("expires", int64_t{0}));
    res.send_json(201, json{{"id", id}, {"token", token}, {"scope", level_name(std::min(*scope, p.cap))}});
    return;
  }
  if (rest.size() > 1 && req.method() == "DELETE") {
    if (!accounts_.delete_token(p.name, rest.substr(1))) throw HttpError(404, "no such token");
    res.send(204);
    return;
  }
  throw HttpError(405, "method not allowed");
}

void HubApi::robots(Request& req, Response& res, const std::string& rest) {
  Principal p = require_user(auth_.authenticate(req));
  std::vector<std::string> parts = split(rest, '/');  // "", ns, "robots"
  if (parts.size() != 3 || parts[2] != "robots" || req.method() != "POST") throw HttpError(404, "no such route");
  if (!accounts_.owns_namespace(p, parts[1])) throw HttpError(403, fmt::format("only owners of {} may add robots", parts[1]));
  auto [name, token] = accounts_.create_robot(parts[1], string_field(body_object(req), "name"));
  res.send_json(201, json{{"name", name}, {"token", token}});
}

// ---- repositories

json HubApi::repository_json(const RepositoryInfo& r, const Principal& p) {
  size_t slash = r.name.find('/');
  Level l = accounts_.level(p, r.name);
  std::string last;
  auto tags = ctx_.meta.tags(r.name, "", -1);
  int64_t updated = r.created;
  for (const auto& t : tags) {
    if (auto d = ctx_.meta.tag_digest(r.name, t)) {
      if (auto m = ctx_.meta.manifest(r.name, *d)) updated = std::max(updated, m->pushed_unix);
    }
  }
  return json{{"name", slash == std::string::npos ? r.name : r.name.substr(slash + 1)},
              {"namespace", slash == std::string::npos ? "library" : r.name.substr(0, slash)},
              {"repo_name", r.name},
              {"is_private", r.is_private},
              {"description", r.description},
              {"full_description", r.full_description},
              {"star_count", r.star_count},
              {"tag_count", tags.size()},
              {"date_created", r.created},
              {"last_updated", updated},
              {"permission", level_name(l)}};
}

static std::string read_blob_text(BlobStore& blobs, const std::string& digest) {
  auto reader = blobs.open(image::Digest::parse(digest));
  if (!reader) throw HttpError(404, fmt::format("blob {} is missing from storage", digest));
  std::string out;
  reader->read(0, reader->size(), [&](std::string_view piece) {
    out.append(piece);
    return true;
  });
  return out;
}

// Platform "os/arch[/variant]" of an image config blob.
static std::string config_platform(BlobStore& blobs, const std::string& digest) {
  json c = json::parse(read_blob_text(blobs, digest), nullptr, false);
  if (!c.is_object() || !c.contains("architecture")) return "";
  std::string p = c.value("os", "") + "/" + c.value("architecture", "");
  if (c.contains("variant") && c["variant"].is_string()) p += "/" + c["variant"].get<std::string>();
  return p;
}

json HubApi::tag_json(const std::string& repo, const std::string& tag, const std::string& digest) {
  auto m = ctx_.meta.manifest(repo, digest);
  if (!m) throw HttpError(404, fmt::format("tag {} names a missing manifest", tag));
  json body = json::parse(read_blob_text(ctx_.blobs, digest), nullptr, false);
  json images = json::array();
  auto image_entry = [&](const json& manifest, const std::string& d, const std::string& platform) {
    int64_t size = 0;
    for (const auto& l : manifest.value("layers", json::array())) size += l.value("size", int64_t{0});
    return json{{"digest", d}, {"platform", platform}, {"size", size}};
  };
  if (body.contains("manifests")) {
    for (const auto& child : body["manifests"]) {
      std::string d = child.value("digest", "");
      std::string platform;
      if (child.contains("platform")) {
        const json& pl = child["platform"];
        platform = pl.value("os", "") + "/" + pl.value("architecture", "");
        if (pl.contains("variant")) platform += "/" + pl.value("variant", "");
      }
      json cm = ctx_.meta.manifest(repo, d) ? json::parse(read_blob_text(ctx_.blobs, d), nullptr, false) : json();
      images.push_back(image_entry(cm.is_object() ? cm : json::object(), d, platform));
    }
  } else if (body.contains("config")) {
    images.push_back(image_entry(body, digest, config_platform(ctx_.blobs, body["config"].value("digest", ""))));
  }
  int64_t size = 0;
  for (const auto& i : images) size += i["size"].get<int64_t>();
  return json{{"name", tag},     {"digest", digest},        {"media_type", m->media_type},
              {"size", size},    {"pushed", m->pushed_unix}, {"images", images}};
}

void HubApi::repositories(Request& req, Response& res, const std::string& rest) {
  Principal p = auth_.authenticate(req);
  if (rest.empty() || rest == "/") {
    if (req.method() == "GET") {
      std::string ns = req.query().get("namespace");
      json out = json::array();
      for (const auto& r : accounts_.search(p, req.query().get("q"))) {
        if (!ns.empty() && !r.name.starts_with(ns + "/")) continue;
        out.push_back(repository_json(r, p));
      }
      res.send_json(200, json{{"count", out.size()}, {"results", out}});
      return;
    }
    if (req.method() == "POST") {
      json b = body_object(req);
      std::string name = string_field(b, "name");
      if (!is_valid_repository_name(name)) throw HttpError(400, fmt::format("invalid repository name {:?}", name));
      if (accounts_.repository(name)) throw HttpError(409, fmt::format("repository {} already exists", name));
      if (!accounts_.can_create(p, name)) throw HttpError(403, fmt::format("you may not create {}", name));
      accounts_.ensure_repository(name, b.value("is_private", false));
      json patch = b;
      patch.erase("name");
      accounts_.update_repository(name, patch);
      res.send_json(201, repository_json(*accounts_.repository(name), p));
      return;
    }
    throw HttpError(405, "method not allowed");
  }
  auto route = match_repository_route(rest.substr(1), {{"tags"},
                                                      {"manifests", "*"},
                                                      {"collaborators"},
                                                      {"collaborators", "*"},
                                                      {"teams", "*"},
                                                      {"star"},
                                                      {}});
  if (!route) throw HttpError(404, "no such route");
  const std::string& repo = route->repo;
  std::string sub = join(route->sub, "/");
  Level l = accounts_.level(p, repo);
  if (l < Level::kRead) throw HttpError(404, fmt::format("no repository {}", repo));
  auto need = [&](Level want) {
    if (l < want) throw HttpError(403, fmt::format("you need {} permission on {}", level_name(want), repo));
  };
  const std::string& m = req.method();
  if (sub.empty()) {
    if (m == "GET") {
      res.send_json(200, repository_json(*accounts_.repository(repo), p));
    } else if (m == "PATCH") {
      need(Level::kAdmin);
      accounts_.update_repository(repo, body_object(req));
      res.send_json(200, repository_json(*accounts_.repository(repo), p));
    } else {
      throw HttpError(405, "method not allowed");
    }
    return;
  }
  if (sub == "tags" && m == "GET") {
    json out = json::array();
    for (const auto& t : ctx_.meta.tags(repo, "", -1)) {
      if (auto d = ctx_.meta.tag_digest(repo, t)) out.push_back(tag_json(repo, t, *d));
    }
    res.send_json(200, out);
    return;
  }
  if (sub.starts_with("manifests/") && m == "GET") {
    std::string digest = sub.substr(10);
    if (!ctx_.meta.manifest(repo, digest)) throw HttpError(404, fmt::format("no manifest {} in {}", digest, repo));
    json body = json::parse(read_blob_text(ctx_.blobs, digest), nullptr, false);
    json layers = json::array();
    json history = json::array();
    if (body.contains("config")) {
      json cfg = json::parse(read_blob_text(ctx_.blobs, body["config"].value("digest", "")), nullptr, false);
      if (cfg.is_object() && cfg.contains("history")) {
        for (const auto& h : cfg["history"]) {
          if (!h.value("empty_layer", false)) history.push_back(h.value("created_by", ""));
        }
      }
      size_t i = 0;
      for (const auto& layer : body.value("layers", json::array())) {
        layers.push_back(json{{"digest", layer.value("digest", "")},
                              {"size", layer.value("size", int64_t{0})},
                              {"media_type", layer.value("mediaType", "")},
                              {"instruction", i < history.size() ? history[i] : json("")}});
        ++i;
      }
    }
    res.send_json(200, json{{"digest", digest}, {"manifest", body}, {"layers", layers}});
    return;
  }
  if (sub == "star") {
    if (p.anonymous()) throw HttpError(401, "sign in first");
    if (m != "PUT" && m != "DELETE") throw HttpError(405, "method not allowed");
    accounts_.star(repo, p.name, m == "PUT");
    res.send_json(200, repository_json(*accounts_.repository(repo), p));
    return;
  }
  need(Level::kAdmin);
  if (sub == "collaborators" && m == "GET") {
    res.send_json(200, accounts_.grants_json(repo));
    return;
  }
  bool team = sub.starts_with("teams/");
  if (team || sub.starts_with("collaborators/")) {
    std::string who = sub.substr(sub.find('/') + 1);
    if (m == "DELETE") {
      if (!accounts_.revoke(repo, who, team)) throw HttpError(404, fmt::format("{} has no grant on {}", who, repo));
      res.send(204);
      return;
    }
    if (m == "PUT") {
      auto level = parse_level(body_object(req).value("permission", ""));
      if (!level) throw HttpError(400, "permission must be read, write or admin");
      if (team) {
        std::string ns = repo.substr(0, repo.find('/'));
        if (!accounts_.is_org(ns)) throw HttpError(400, "teams exist only in organizations' repositories");
        if (!accounts_.team_exists(ns, who)) throw HttpError(404, fmt::format("no team {} in {}", who, ns));
      } else if (!accounts_.exists(who) || accounts_.is_org(who)) {
        throw HttpError(404, fmt::format("no user {}", who));
      }
      accounts_.grant(repo, who, team, *level);
      res.send_json(200, accounts_.grants_json(repo));
      return;
    }
  }
  throw HttpError(405, "method not allowed");
}

// docker search: GET /v1/search?q=&n=&page=, answered as Docker Hub does.
void HubApi::search_v1(Request& req, Response& res) {
  Principal p;
  try {
    p = auth_.authenticate(req);
  } catch (const HttpError&) {
    // docker search sends whatever credentials it has; a stale one still searches public repositories.
  }
  std::string q = req.query().get("q");
  long long n = req.query().get_int("n", 25), page = req.query().get_int("page", 1);
  if (n <= 0 || n > 100) n = 25;
  if (page <= 0) page = 1;
  auto found = accounts_.search(p, q);
  json results = json::array();
  for (size_t i = static_cast<size_t>((page - 1) * n); i < found.size() && results.size() < static_cast<size_t>(n);
       ++i) {
    const auto& r = found[i];
    results.push_back(json{{"name", r.name},
                           {"description", r.description},
                           {"star_count", r.star_count},
                           {"is_official", r.name.find('/') == std::string::npos},
                           {"is_automated", false},
                           {"is_trusted", false}});
  }
  res.send_json(200, json{{"num_results", found.size()},
                          {"num_pages", (found.size() + n - 1) / n},
                          {"page", page},
                          {"page_size", n},
                          {"query", q},
                          {"results", results}});
}

}  // namespace berth::hub
