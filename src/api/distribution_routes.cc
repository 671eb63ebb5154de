#include "api/distribution_routes.h"
#include "api/filters.h"

#include <optional>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/error.h"
#include "base/strings.h"
#include "image/reference.h"

namespace berth::api {

using nlohmann::json;

namespace {

registry::AuthConfig auth_from_json(const json& j) {
  registry::AuthConfig a;
  if (!j.is_object()) return a;
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  a.username = str("username");
  a.password = str("password");
  a.identity_token = str("identitytoken");
  a.registry_token = str("registrytoken");
  if (std::string auth = str("auth"); !auth.empty() && a.username.empty()) {
    std::string plain = base64_decode(auth);
    auto colon = plain.find(':');
    if (colon != std::string::npos) {
      a.username = plain.substr(0, colon);
      a.password = plain.substr(colon + 1);
    }
  }
  return a;
}

int status_for(const std::string& msg) {
  // Not 401: the docker CLI answers a 401 to a pull by prompting for a login.
  if (msg.find("pull access denied") != std::string::npos) return 404;
  if (msg.find("unauthorized") != std::string::npos || msg.find("denied") != std::string::npos) return 401;
  if (msg.find("not found") != std::string::npos || msg.find("unknown") != std::string::npos ||
      msg.find("does not exist") != std::string::npos || msg.find("No such image") != std::string::npos)
    return 404;
  if (msg.find("invalid reference") != std::string::npos || msg.find("invalid platform") != std::string::npos)
    return 400;
  return 500;
}

bool is_layer_id(const std::string& id) {
  return id.size() == 12 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Turns progress into docker's JSON lines, starting the stream lazily.
class MessageStream {
 public:
  explicit MessageStream(Response& res) : res_(res) {}

  void send(const registry::PullProgress& p) { write(pull_progress_json(p)); }
  void write(const json& m) {
    if (!res_.answered()) res_.start_stream(200, "application/json");
    res_.write(m.dump() + "\n");
  }
  // Reports err in the stream when one is open, else as an HTTP error.
  void fail(const std::exception& err) {
    std::string msg = err.what();
    if (!res_.answered()) throw ApiError(status_for(msg), msg);
    write({{"errorDetail", {{"message", msg}}}, {"error", msg}});
  }

 private:
  Response& res_;
};

}  // namespace

json pull_progress_json(const registry::PullProgress& p) {
  json m = {{"status", p.status}};
  if (p.has_detail) {
    m["progressDetail"] = {{"current", p.current}, {"total", p.total}};
  } else if (is_layer_id(p.id)) {
    // dockerd's per-layer lines carry an empty detail; "latest: Pulling
    // from x" does not, and clients draw the two kinds differently.
    m["progressDetail"] = json::object();
  }
  if (!p.id.empty()) m["id"] = p.id;
  return m;
}

registry::AuthConfig parse_registry_auth(const std::string& header) {
  if (header.empty()) return {};
  try {
    return auth_from_json(json::parse(base64_decode(header)));
  } catch (const std::exception&) {
    // dockerd ignores an undecodable header and pulls anonymously.
    return {};
  }
}

void serve_pull(engine::Distribution& dist, Request& req, Response& res) {
  const Query& q = req.query();
  std::string from = q.get("fromImage"), tag = q.get("tag");
  std::string reference = from;
  bool all_tags = false;
  if (!tag.empty()) {
    reference += (tag.starts_with("sha256:") ? "@" : ":") + tag;
  } else {
    image::Reference r = image::parse_reference(from);
    all_tags = !r.tag && !r.digest;
  }
  MessageStream out(res);
  try {
    dist.pull(reference, all_tags, q.get("platform"), parse_registry_auth(req.header("X-Registry-Auth")),
              [&](const registry::PullProgress& p) { out.send(p); });
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    out.fail(e);
  }
}

void add_distribution_routes(Router& router, engine::Distribution& dist) {
  router.add("POST", "/images/{name:.*}/push", [&dist](Request& req, Response& res) {
    std::string name = req.param("name"), tag = req.query().get("tag");
    MessageStream out(res);
    try {
      dist.push(tag.empty() ? name : name + ":" + tag, parse_registry_auth(req.header("X-Registry-Auth")),
                [&](const registry::PullProgress& p) { out.send(p); });
    } catch (const std::exception& e) {
      out.fail(e);
    }
  });
  router.add("POST", "/auth", [&dist](Request& req, Response& res) {
    json body = req.json_body();
    registry::AuthConfig auth = auth_from_json(body);
    std::string server = body.is_object() ? body.value("serveraddress", "") : "";
    std::string token;
    try {
      token = dist.login(server, auth);
    } catch (const Error& e) {
      std::string msg = e.what();
      throw ApiError(status_for(msg) == 401 ? 401 : 500, msg);
    }
    res.send_json(200, {{"Status", "Login Succeeded"}, {"IdentityToken", token}});
  });
  router.add("GET", "/distribution/{name:.*}/json", [&dist](Request& req, Response& res) {
    auto inspect = [&] {
      try {
        return dist.inspect(req.param("name"), parse_registry_auth(req.header("X-Registry-Auth")));
      } catch (const Error& e) {
        throw ApiError(status_for(e.what()), e.what());
      }
    };
    engine::Distribution::RemoteInfo info = inspect();
    res.send_json(200, {{"Descriptor",
                         {{"mediaType", info.descriptor.media_type},
                          {"digest", info.descriptor.digest.str()},
                          {"size", info.descriptor.size}}},
                        {"Platforms", info.platforms}});
  });
  router.add("GET", "/images/search", [&dist](Request& req, Response& res) {
    const Query& q = req.query();
    long long limit = 25;
    if (q.has("limit") && (!parse_int64(q.get("limit"), &limit) || limit < 1 || limit > 100))
      throw ApiError(400, fmt::format("limit {} is outside the range of [1, 100]", q.get("limit")));
    Filters f = query_filters(q);
    long long min_stars = 0;
    std::optional<bool> official, automated;
    for (const auto& [key, values] : f) {
      for (const auto& v : values) {
        if (key == "stars") {
          if (!parse_int64(v, &min_stars)) throw ApiError(400, fmt::format("invalid filter 'stars={}'", v));
        } else if (key == "is-official" || key == "is-automated") {
          if (v != "true" && v != "false") throw ApiError(400, fmt::format("invalid filter '{}={}'", key, v));
          (key == "is-official" ? official : automated) = v == "true";
        } else {
          throw ApiError(400, fmt::format("invalid filter '{}'", key));
        }
      }
    }
    std::string term = q.get("term");
    if (term.empty()) throw ApiError(400, "search term is required");
    auto found = [&] {
      try {
        return dist.search(term, static_cast<int>(limit), parse_registry_auth(req.header("X-Registry-Auth")));
      } catch (const Error& e) {
        throw ApiError(500, e.what());
      }
    }();
    json out = json::array();
    for (const auto& r : found) {
      if (r.star_count < min_stars || (official && r.is_official != *official) ||
          (automated && r.is_automated != *automated))
        continue;
      out.push_back({{"star_count", r.star_count},
                     {"is_official", r.is_official},
                     {"name", r.name},
                     {"is_automated", r.is_automated},
                     {"description", r.description}});
    }
    res.send_json(200, out);
  });
}

}  // namespace berth::api
