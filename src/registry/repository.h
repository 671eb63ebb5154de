// One repository on one registry, spoken to with the distribution API
// (OCI distribution-spec v1.1 / Docker registry v2), authenticated.
//
// Contract:
// - connect() pings /v2/ on each endpoint in turn and keeps the first that
//   answers (200 or 401); a transport failure moves on to the next
//   (docker's mirror and http fallbacks). The 401 challenge decides the
//   scheme: Bearer (token fetched from the realm for this repository's
//   scopes, with Basic credentials when given, anonymously otherwise, or
//   with an identity token as an OAuth2 refresh token) or Basic. Tokens are
//   reused until they expire and fetched again on a later 401.
// - Registry errors become Error "<code lowercased>: <message>" as docker
//   prints them ("manifest unknown: manifest unknown", "unauthorized:
//   authentication required"), prefixed by the caller's context.
// - Bytes are verified: a manifest fetched by digest must hash to it, and
//   one fetched by tag must match the Docker-Content-Digest header when the
//   registry sends one. Blob bytes are verified by the caller's content store.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "image/digest.h"
#include "registry/endpoints.h"
#include "registry/http_client.h"

namespace berth::registry {

// Credentials for one registry, as docker's AuthConfig (X-Registry-Auth)
// carries them: username and password, or an identity token (an OAuth2
// refresh token from an earlier login), or a ready bearer registry token.
struct AuthConfig {
  std::string username, password, identity_token, registry_token;
  bool empty() const { return username.empty() && identity_token.empty() && registry_token.empty(); }
};

struct FetchedManifest {
  std::string bytes;
  std::string media_type;
  image::Digest digest;
};

struct ManifestInfo {
  std::string media_type;
  image::Digest digest;
  uint64_t size = 0;
};

// What a registry's error body says, parsed; empty when it is not one.
std::string registry_error_text(long status, const std::string& body);

class Repository {
 public:
  // path: "library/busybox". push asks for pull,push scopes.
  Repository(HttpClient& http, std::vector<Endpoint> endpoints, std::string path, AuthConfig auth, bool push);

  // See the contract. Throws the last endpoint's error when none answers.
  void connect();
  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& path() const { return path_; }
  // How errors name the repository ("localhost:5000/app"); path() until set.
  void set_display_name(std::string name) { display_name_ = std::move(name); }

  // Also asks for pull access to another repository of the same registry
  // (the source of a cross-repository blob mount). Before the first request.
  void add_pull_scope(const std::string& other_path);

  // Verifies credentials only: succeeds when the registry accepts them for
  // /v2/ (docker login). Returns an identity token when the token server
  // issued a refresh token.
  std::string login();

  FetchedManifest get_manifest(const std::string& tag_or_digest);
  // HEAD; nullopt on 404.
  std::optional<ManifestInfo> head_manifest(const std::string& tag_or_digest);
  image::Digest put_manifest(const std::string& tag_or_digest, const std::string& bytes, const std::string& media_type);
  std::vector<std::string> list_tags();

  // Streams a blob from offset (a Range request) to sink. Returns the offset
  // the registry actually started from: 0 when it ignored the range, in
  // which case nothing earlier was sent to the sink and the caller restarts.
  // urls: a foreign layer's download locations, tried first.
  uint64_t fetch_blob(const image::Digest& digest, uint64_t offset, const HttpClient::Sink& sink,
                      const std::function<void(uint64_t start)>& on_start, const std::vector<std::string>& urls = {});
  // HEAD; the blob's size, or nullopt when absent.
  std::optional<uint64_t> blob_size(const image::Digest& digest);
  // Cross-repository mount: true when the registry mounted it; false when it
  // opened an ordinary upload instead (then upload_blob follows).
  bool mount_blob(const image::Digest& digest, const std::string& from_path);
  // Uploads size bytes from reader. chunk_size 0: one monolithic PUT;
  // otherwise PATCH requests of chunk_size bytes then a closing PUT.
  void upload_blob(const image::Digest& digest, uint64_t size,
                   const std::function<size_t(char* buf, size_t cap)>& reader, uint64_t chunk_size = 0);

 private:
  HttpResponse send(HttpRequest req, const HttpClient::Sink& sink = {});
  void authorize(const HttpResponse& challenge_response);
  void apply_auth(HttpRequest& req) const;
  // Connects first: the base URL is the endpoint that answered.
  std::string url(const std::string& rest);
  [[noreturn]] void fail_response(const std::string& what, const HttpResponse& res) const;
  std::string start_upload(const std::string& query);

  HttpClient& http_;
  std::vector<Endpoint> endpoints_;
  Endpoint endpoint_;
  std::string path_;
  std::string display_name_;
  AuthConfig auth_;
  std::vector<std::string> scopes_;
  std::string authorization_;  // "Bearer ..." / "Basic ..."
  std::chrono::steady_clock::time_point token_expiry_ = std::chrono::steady_clock::time_point::max();
  std::string refresh_token_;
  bool connected_ = false;
};

}  // namespace berth::registry
