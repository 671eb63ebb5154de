// AuthService: who is calling berth-hub, and Docker Hub's token protocol.
//
// Contract:
// - GET /token?service=&scope=repository:<name>:<actions>&scope=...
//   (docker's registry token protocol; POST with grant_type=password or
//   refresh_token as the OAuth2 variant) authenticates the Basic
//   credentials (password, access token or robot token; none: anonymous)
//   and answers {"token","access_token","expires_in","issued_at"}: an ES256
//   JWT (hub/jwt.h) valid for token_ttl seconds whose "access" claim lists,
//   per requested scope, only the actions the caller holds (pull: read,
//   push: write or creating the repository, delete and "*": admin).
// - registry_access() is the RegistryApi's Access: Bearer tokens are
//   checked against their "access" claim; Basic credentials directly.
//   Without credentials it answers 401 with
//   `WWW-Authenticate: Bearer realm="<public url>/token",service=..,scope=..`.
//   A caller that may not read a private repository gets 404 NAME_UNKNOWN
//   (anonymous callers 401), so private names never leak; one that may read
//   but not write gets 403 DENIED.
// - authenticate() (HubContext) takes Basic credentials, a session token
//   (Bearer, issued by login()) or the `berth_session` cookie.
// - Failed logins are rate-limited per account name and per client address:
//   after kMaxFailures within kFailureWindow every attempt (even a right one)
//   is answered 429 until the window passes. Failures are counted in the
//   database, so replicas share the limit. A failure is counted once the
//   password check has failed, so guesses already in flight when the limit
//   is reached still get answered (at most one per concurrent request);
//   counting attempts before the check instead would lock out a CI machine
//   whose parallel jobs log in at once.
// - In open mode (no accounts) everyone is a site admin.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <mutex>
#include <string>

#include "http/server.h"
#include "hub/accounts.h"
#include "hub/jwt.h"
#include "hub/registry_api.h"

namespace berth::hub {

struct AuthOptions {
  std::string public_url;             // "http://127.0.0.1:5000"
  std::string service = "berth-hub";  // the token's audience
  int64_t token_ttl = 300;
  int64_t session_ttl = 12 * 3600;
  bool open = false;
  bool default_private = false;  // visibility of repositories created by a push
};

// The token signing key every replica shares: kept in the database (created
// by whichever replica starts first), so replicas need nothing else in common.
TokenSigner signer_from_database(Database& db);

class AuthService {
 public:
  static constexpr int kMaxFailures = 10;
  static constexpr std::chrono::seconds kFailureWindow{300};

  // load_signer runs on the first token signed or verified, not at start:
  // an idle hub never touches the key (or the crypto code behind it).
  AuthService(Accounts& accounts, std::function<TokenSigner()> load_signer, AuthOptions options);

  Principal authenticate(http::Request& req);
  void serve_token(http::Request& req, http::Response& res);
  void registry_access(http::Request& req, http::Response& res, const std::string& repo, Action action);
  // Whether the caller may see repo in the catalog.
  bool can_list(http::Request& req, const std::string& repo);
  // The account behind a registry request registry_access() already let
  // through ("" for anonymous callers): names the pusher in webhooks.
  std::string caller_name(http::Request& req);
  // Credentials berthd pushes an automated build of repo with: the
  // namespace's "<ns>+autobuild" robot (created on first use) granted write
  // on repo, with an access token that expires in an hour.
  std::pair<std::string, std::string> build_credentials(const std::string& repo);
  // A session token for the UI and API (POST /api/v1/login).
  std::string login(http::Request& req, const std::string& name, const std::string& password);
  const AuthOptions& options() const { return options_; }

 private:
  // Checks Basic credentials with the rate limit; throws 401/429.
  Principal check_basic(http::Request& req, const std::string& header_value);
  Principal check_login(http::Request& req, const std::string& name, const std::string& secret);
  // The caller behind a registry request, and the actions a Bearer token grants on repo
  // (nullopt: no Bearer token; compute from the level instead).
  struct RegistryCaller;
  RegistryCaller registry_caller(http::Request& req, const std::string& repo);
  std::string granted_actions(const Principal& p, const std::string& repo, const std::string& wanted);
  [[noreturn]] void challenge(http::Response& res, const std::string& scope, const std::string& message);

  const TokenSigner& signer();

  Accounts& accounts_;
  std::function<TokenSigner()> load_signer_;
  std::once_flag signer_once_;
  std::optional<TokenSigner> signer_;
  AuthOptions options_;
};

}  // namespace berth::hub
