// HubContext: what berth-hub's services (registry API, accounts, search,
// webhooks, automated builds, web UI) share: storage, and the two questions
// every request asks — who is calling, and what may they do with a
// repository.
//
// Contract:
// - authenticate(req) resolves the caller from `Authorization: Basic`
//   (password, access token or robot token), `Authorization: Bearer` (a
//   session or registry token berth-hub signed) or the UI's session cookie.
//   No credentials: an anonymous Principal. Bad credentials throw
//   http::HttpError(401); too many failed logins throw http::HttpError(429).
// - level(p, repo): the caller's access to a repository: public
//   repositories are kRead for everyone (anonymous too); owners of the
//   namespace are kAdmin; collaborators and teams get what was granted; an
//   access token caps the level at its scope. kNone for everything else,
//   including repositories that do not exist yet (Accounts::can_create says
//   who may push them into being).
// - JSON API handlers answer errors by throwing http::HttpError(status,
//   message): the server sends {"message": ...} with that status.
#pragma once

#include <functional>
#include <string>

#include "http/server.h"
#include "hub/blob_store.h"
#include "hub/metadata.h"
#include "hub/sql.h"

namespace berth::hub {

enum class Level { kNone = 0, kRead = 1, kWrite = 2, kAdmin = 3 };

struct Principal {
  std::string name;  // "" for anonymous; robots are "<namespace>+<robot>"
  bool site_admin = false;
  bool robot = false;
  Level cap = Level::kAdmin;  // an access token's scope
  bool anonymous() const { return name.empty(); }
};

struct HubContext {
  Database& db;
  Metadata& meta;
  BlobStore& blobs;
  // The URL clients reach berth-hub at, e.g. "http://127.0.0.1:5000".
  std::string public_url;
  std::function<Principal(http::Request&)> authenticate;
  std::function<Level(const Principal&, const std::string& repo)> level;
  // Whether p owns namespace ns (its own name, or an organization whose owners team it is in).
  std::function<bool(const Principal&, const std::string& ns)> owns_namespace;
};

// Throws unless the caller of req has at least `want` on repo: 401 for
// anonymous callers, 404 for those who may not even see the repository (so
// private names do not leak), 403 otherwise.
void require_level(HubContext& ctx, http::Request& req, const std::string& repo, Level want);

}  // namespace berth::hub
