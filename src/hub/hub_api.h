// HubApi: berth-hub's JSON API for people and the web UI (/api/v1/...) and
// docker's search endpoint (/v1/search).
//
// Contract (every route answers JSON; errors are {"message"} with a status):
// - POST /api/v1/users {username,password,email} — sign up (when allowed)
//   or created by a site admin; GET /api/v1/user — the caller.
// - POST /api/v1/login {username,password} -> {token} and the
//   `berth_session` cookie (HttpOnly, SameSite=Strict); POST /api/v1/logout.
// - POST /api/v1/orgs {name}; GET /api/v1/orgs/<org>/teams;
//   POST /api/v1/orgs/<org>/teams {name};
//   PUT|DELETE /api/v1/orgs/<org>/teams/<team>/members/<user> (org owners).
// - POST /api/v1/namespaces/<ns>/robots {name} -> {name, token} (owners).
// - GET|POST /api/v1/tokens {description, scope}, DELETE /api/v1/tokens/<id>.
// - GET /api/v1/repositories?q=&namespace= — what the caller can read;
//   POST /api/v1/repositories {name,is_private,description,full_description};
//   GET|PATCH /api/v1/repositories/<repo>; GET .../tags (digest, size,
//   platforms, push time); GET .../manifests/<digest> (layers);
//   GET .../collaborators; PUT|DELETE .../collaborators/<user> {permission};
//   PUT|DELETE .../teams/<team> {permission}; PUT|DELETE .../star.
//   "<repo>/-" and "<repo>/-/tags" etc. name the same routes unambiguously
//   (hub/names.h: match_repository_route).
// - A repository the caller cannot read answers 404, never 403.
#pragma once

#include "http/server.h"
#include "hub/accounts.h"
#include "hub/auth_service.h"
#include "hub/hub_context.h"

namespace berth::hub {

struct HubApiOptions {
  bool allow_signup = false;
};

class HubApi {
 public:
  HubApi(HubContext& ctx, Accounts& accounts, AuthService& auth, HubApiOptions options);
  // False when the path is not one of these routes.
  bool serve(http::Request& req, http::Response& res);

 private:
  void users(http::Request& req, http::Response& res, const std::string& rest);
  void orgs(http::Request& req, http::Response& res, const std::string& rest);
  void tokens(http::Request& req, http::Response& res, const std::string& rest);
  void robots(http::Request& req, http::Response& res, const std::string& rest);
  void repositories(http::Request& req, http::Response& res, const std::string& rest);
  void search_v1(http::Request& req, http::Response& res);
  nlohmann::json repository_json(const RepositoryInfo& r, const Principal& p);
  nlohmann::json tag_json(const std::string& repo, const std::string& tag, const std::string& digest);

  HubContext& ctx_;
  Accounts& accounts_;
  AuthService& auth_;
  HubApiOptions options_;
};

}  // namespace berth::hub
