// Registry authentication challenges and bearer-token plumbing, as docker's
// distribution client (registry/client/auth) does it.
//
// Contract:
// - parse_auth_challenges reads each WWW-Authenticate header value as
//   docker's challenge.ResponseChallenges: one challenge per header value
//   (a second scheme in the same value ends it, as in docker), scheme and
//   parameter names lower-cased, values kept verbatim (quoted values
//   unescaped). Parsing of a value stops at the first malformed
//   parameter, keeping what came before; a value without a scheme is
//   skipped. Nothing here throws.
// - token_request_url: the GET URL docker's token handler builds: the
//   realm's own query plus service, scope (one per scope) and account,
//   re-encoded with keys in sorted order as Go's url.Values.Encode does.
// - parse_token_response: "access_token" wins over "token"; expires_in
//   below 60 s (or absent) becomes 60 s; Error "token response: ..." when
//   the body is not a JSON object, has mistyped fields, or has no token.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::registry {

struct AuthChallenge {
  std::string scheme;                         // lower case: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lower case: "realm", "service", "scope"

  // params[key], or "" when absent.
  std::string param(const std::string& key) const;
};

// One entry per header value that names a scheme, in order.
std::vector<AuthChallenge> parse_auth_challenges(const std::vector<std::string>& header_values);

// "https://auth.docker.io/token?scope=repository%3Alibrary%2Fbusybox%3Apull&service=registry.docker.io".
// account (docker sends the user name when it has credentials) is added when
// not empty. Error when the challenge has no realm.
std::string token_request_url(const AuthChallenge& challenge, const std::vector<std::string>& scopes,
                              std::string_view account = {});

// "repository:library/busybox:pull", or ":pull,push" when push.
std::string repository_scope(const std::string& repo_path, bool push);

struct BearerToken {
  std::string token;
  std::chrono::seconds expires_in{60};
  std::string issued_at;      // RFC 3339 as sent; "" when absent (use the time of the request)
  std::string refresh_token;  // "" unless the server issued one (offline_token)
};

BearerToken parse_token_response(std::string_view body);

}  // namespace berth::registry
