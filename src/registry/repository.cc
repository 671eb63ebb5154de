#include "registry/repository.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/strings.h"
#include "image/manifest.h"
#include "image/media_types.h"
#include "registry/auth_challenge.h"
#include "base/base64.h"

namespace berth::registry {

using image::Digest;
using nlohmann::json;

namespace {

const char* const kManifestAccept =
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

std::string lower_code(std::string code) {
  std::replace(code.begin(), code.end(), '_', ' ');
  std::transform(code.begin(), code.end(), code.begin(), [](unsigned char c) { return std::tolower(c); });
  return code;
}

}  // namespace

std::string registry_error_text(long status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
    std::vector<std::string> parts;
    for (const auto& e : j["errors"]) {
      if (!e.is_object()) continue;
      std::string code = e.value("code", "");
      std::string msg = e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
      parts.push_back(code.empty() ? msg : lower_code(code) + ": " + msg);
    }
    if (!parts.empty()) return join(parts, ", ");
  }
  if (status == 401) return "unauthorized: authentication required";
  if (status == 403) return "denied: requested access to the resource is denied";
  std::string_view b = trim(body);
  if (b.size() > 200) b = b.substr(0, 200);
  return fmt::format("unexpected status {}{}{}", status, b.empty() ? "" : ": ", b);
}

Repository::Repository(HttpClient& http, std::vector<Endpoint> endpoints, std::string path, AuthConfig auth, bool push)
    : http_(http), endpoints_(std::move(endpoints)), path_(std::move(path)), auth_(std::move(auth)) {
  scopes_.push_back(repository_scope(path_, push));
  if (!auth_.registry_token.empty()) authorization_ = "Bearer " + auth_.registry_token;
}

void Repository::add_pull_scope(const std::string& other_path) {
  std::string s = repository_scope(other_path, false);
  if (std::find(scopes_.begin(), scopes_.end(), s) == scopes_.end()) scopes_.push_back(s);
}

std::string Repository::url(const std::string& rest) {
  connect();
  return endpoint_.base_url + "/v2/" + rest;
}

void Repository::apply_auth(HttpRequest& req) const {
  req.insecure_tls = endpoint_.insecure_tls;
  if (!authorization_.empty()) req.headers.push_back("Authorization: " + authorization_);
}

void Repository::connect() {
  if (connected_) return;
  std::string last_error = "no endpoint";
  for (const auto& ep : endpoints_) {
    endpoint_ = ep;
    HttpRequest req{.url = ep.base_url + "/v2/"};
    req.insecure_tls = ep.insecure_tls;
    HttpResponse res;
    try {
      res = http_.send(req);
    } catch (const Error& e) {
      last_error = e.what();
      continue;
    }
    if (res.status == 401) {
      authorize(res);
    } else if (!res.ok()) {
      last_error = fmt::format("GET {}/v2/: {}", ep.base_url, registry_error_text(res.status, res.body));
      if (ep.mirror) continue;  // a broken mirror: fall back to the registry itself
      fail("{}", last_error);
    }
    connected_ = true;
    return;
  }
  fail("{}", last_error);
}

void Repository::authorize(const HttpResponse& challenge_response) {
  std::vector<AuthChallenge> challenges = parse_auth_challenges(challenge_response.header_values("www-authenticate"));
  for (const auto& c : challenges) {
    if (c.scheme == "bearer") {
      if (!auth_.registry_token.empty()) {
        authorization_ = "Bearer " + auth_.registry_token;
        return;
      }
      HttpRequest req;
      req.insecure_tls = endpoint_.insecure_tls;
      std::string refresh = refresh_token_.empty() ? auth_.identity_token : refresh_token_;
      if (!refresh.empty()) {
        // OAuth2 refresh-token grant, as docker does with identity tokens.
        if (c.param("realm").empty()) fail("authentication challenge without a realm");
        req.method = "POST";
        req.url = c.param("realm");
        req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
        std::string service = c.param("service");
        req.body = "grant_type=refresh_token&client_id=berth&refresh_token=" + url_query_escape(refresh) +
                   "&service=" + url_query_escape(service) + "&scope=" + url_query_escape(join(scopes_, " "));
      } else {
        req.url = token_request_url(c, scopes_, auth_.username);
        if (!auth_.username.empty()) {
          req.url += "&offline_token=true&client_id=berth";
          req.headers.push_back("Authorization: Basic " + base64_encode(auth_.username + ":" + auth_.password));
        }
      }
      HttpResponse res = http_.send(req);
      if (!res.ok()) fail("get token from {}: {}", req.url.substr(0, req.url.find('?')), registry_error_text(res.status, res.body));
      BearerToken token = parse_token_response(res.body);
      authorization_ = "Bearer " + token.token;
      token_expiry_ = std::chrono::steady_clock::now() + token.expires_in;
      if (!token.refresh_token.empty()) refresh_token_ = token.refresh_token;
      return;
    }
    if (c.scheme == "basic") {
      if (auth_.username.empty()) fail("no basic auth credentials");  // docker's ErrNoBasicAuthCredentials
      authorization_ = "Basic " + base64_encode(auth_.username + ":" + auth_.password);
      return;
    }
  }
  fail("unauthorized: authentication required");
}

HttpResponse Repository::send(HttpRequest req, const HttpClient::Sink& sink) {
  connect();
  if (authorization_.starts_with("Bearer ") && std::chrono::steady_clock::now() >= token_expiry_) {
    // Expired: re-authorize with the ping's challenge.
    HttpRequest ping{.url = endpoint_.base_url + "/v2/"};
    ping.insecure_tls = endpoint_.insecure_tls;
    HttpResponse res = http_.send(ping);
    if (res.status == 401) authorize(res);
  }
  HttpRequest first = req;
  apply_auth(first);
  HttpResponse res = http_.send(first, sink);
  // A streamed body cannot be replayed; callers authorize before uploads.
  if (res.status == 401 && !req.body_reader) {
    std::string before = authorization_;
    authorize(res);
    if (authorization_ != before) {
      apply_auth(req);
      res = http_.send(req, sink);
    }
  }
  return res;
}

void Repository::fail_response(const std::string& what, const HttpResponse& res) const {
  fail("{}: {}", what, registry_error_text(res.status, res.body));
}

std::string Repository::login() {
  connect();
  HttpRequest req{.url = endpoint_.base_url + "/v2/"};
  HttpResponse res = send(req);
  if (res.status == 401) fail("login attempt to {}/v2/ failed with status: 401 Unauthorized", endpoint_.base_url);
  if (!res.ok()) fail_response("login", res);
  return refresh_token_;
}

FetchedManifest Repository::get_manifest(const std::string& ref) {
  HttpRequest req{.url = url(path_ + "/manifests/" + ref)};
  req.headers.push_back(kManifestAccept);
  HttpResponse res = send(req);
  if (res.status == 404)
    fail("manifest for {}{}{} not found: {}", display_name_.empty() ? path_ : display_name_,
         ref.starts_with("sha256:") ? "@" : ":", ref, registry_error_text(res.status, res.body));
  if (!res.ok()) fail_response("manifest " + ref, res);
  FetchedManifest m{res.body, res.header("content-type"), image::sha256_of(res.body)};
  Digest want = m.digest;
  if (ref.starts_with("sha256:")) {
    want = Digest::parse(ref);
  } else if (std::string h = res.header("docker-content-digest"); h.starts_with("sha256:")) {
    want = Digest::parse(h);
  }
  if (want != m.digest) fail("manifest {}: digest mismatch: expected {}, got {}", ref, want.str(), m.digest.str());
  return m;
}

std::optional<ManifestInfo> Repository::head_manifest(const std::string& ref) {
  HttpRequest req{.method = "HEAD", .url = url(path_ + "/manifests/" + ref)};
  req.headers.push_back(kManifestAccept);
  HttpResponse res = send(req);
  if (res.status == 404) return std::nullopt;
  if (!res.ok()) fail_response("manifest " + ref, res);
  std::string d = res.header("docker-content-digest");
  if (d.empty()) {  // some registries send it on GET only
    FetchedManifest m = get_manifest(ref);
    return ManifestInfo{m.media_type, m.digest, m.bytes.size()};
  }
  unsigned long long size = 0;
  parse_uint64(res.header("content-length"), &size);
  return ManifestInfo{res.header("content-type"), Digest::parse(d), size};
}

Digest Repository::put_manifest(const std::string& ref, const std::string& bytes, const std::string& media_type) {
  HttpRequest req{.method = "PUT", .url = url(path_ + "/manifests/" + ref), .body = bytes};
  req.headers.push_back("Content-Type: " + media_type);
  HttpResponse res = send(req);
  if (!res.ok()) fail_response("put manifest " + ref, res);
  Digest mine = image::sha256_of(bytes);
  if (std::string d = res.header("docker-content-digest"); d.starts_with("sha256:") && Digest::parse(d) != mine)
    fail("put manifest {}: registry reports digest {}, expected {}", ref, d, mine.str());
  return mine;
}

std::vector<std::string> Repository::list_tags() {
  std::vector<std::string> out;
  std::string next = url(path_ + "/tags/list");
  for (int page = 0; page < 10000 && !next.empty(); ++page) {
    HttpResponse res = send(HttpRequest{.url = next});
    if (!res.ok()) fail_response("list tags of " + path_, res);
    json j = image::parse_json_document(res.body, "tags list of " + path_);
    if (j.contains("tags") && j["tags"].is_array())
      for (const auto& t : j["tags"])
        if (t.is_string()) out.push_back(t);
    // Link: </v2/name/tags/list?n=..&last=..>; rel="next"
    next.clear();
    std::string link = res.header("link");
    auto lt = link.find('<'), gt = link.find('>');
    if (lt != std::string::npos && gt != std::string::npos && link.find("rel=\"next\"") != std::string::npos)
      next = resolve_url(res.effective_url, link.substr(lt + 1, gt - lt - 1));
  }
  return out;
}

uint64_t Repository::fetch_blob(const Digest& digest, uint64_t offset, const HttpClient::Sink& sink,
                                const std::function<void(uint64_t)>& on_start, const std::vector<std::string>& urls) {
  auto make = [&](const std::string& u) {
    HttpRequest req{.url = u};
    if (offset > 0) req.headers.push_back(fmt::format("Range: bytes={}-", offset));
    return req;
  };
  uint64_t start = 0;
  auto headers_hook = [&](const HttpResponse& r) {
    start = r.status == 206 ? offset : 0;
    if (on_start) on_start(start);
  };
  std::string errors;
  for (const auto& u : urls) {  // foreign layers: their own locations, no registry credentials
    HttpRequest req = make(u);
    req.on_headers = headers_hook;
    bool delivered = false;
    auto counting = [&](std::string_view d) {
      delivered = true;
      sink(d);
    };
    try {
      HttpResponse res = http_.send(req, counting);
      if (res.ok()) return start;
      errors += fmt::format("; {}: status {}", u, res.status);
    } catch (const Error& e) {
      if (delivered) throw;  // the sink holds part of this transfer: let the caller retry and resume
      errors += std::string("; ") + e.what();
    }
  }
  HttpRequest req = make(url(path_ + "/blobs/" + digest.str()));
  req.on_headers = headers_hook;
  HttpResponse res = send(req, sink);
  if (!res.ok()) fail("fetch blob {}: {}{}", digest.short_str(), registry_error_text(res.status, res.body), errors);
  return start;
}

std::optional<uint64_t> Repository::blob_size(const Digest& digest) {
  HttpResponse res = send(HttpRequest{.method = "HEAD", .url = url(path_ + "/blobs/" + digest.str())});
  if (res.status == 404) return std::nullopt;
  if (!res.ok()) fail_response("check blob " + digest.short_str(), res);
  unsigned long long size = 0;
  parse_uint64(res.header("content-length"), &size);
  return size;
}

std::string Repository::start_upload(const std::string& query) {
  HttpResponse res = send(HttpRequest{.method = "POST", .url = url(path_ + "/blobs/uploads/" + query)});
  if (res.status == 201) return "";  // mounted
  if (res.status != 202) fail_response("start upload", res);
  std::string loc = res.header("location");
  if (loc.empty()) fail("start upload: registry sent no Location");
  return resolve_url(res.effective_url, loc);
}

bool Repository::mount_blob(const Digest& digest, const std::string& from_path) {
  std::string loc = start_upload("?mount=" + url_query_escape(digest.str()) + "&from=" + url_query_escape(from_path));
  if (loc.empty()) return true;
  // The registry opened an upload instead; cancel it (upload_blob starts its own).
  send(HttpRequest{.method = "DELETE", .url = loc});
  return false;
}

void Repository::upload_blob(const Digest& digest, uint64_t size, const std::function<size_t(char*, size_t)>& reader,
                             uint64_t chunk_size) {
  std::string what = "upload blob " + digest.short_str();
  std::string loc = start_upload("");
  if (loc.empty()) fail("{}: registry answered 201 to a plain upload", what);
  auto with_query = [](const std::string& u, const std::string& q) {
    return u + (u.find('?') == std::string::npos ? "?" : "&") + q;
  };
  std::string digest_q = "digest=" + url_query_escape(digest.str());
  if (chunk_size == 0) {
    HttpRequest req{.method = "PUT", .url = with_query(loc, digest_q)};
    req.headers.push_back("Content-Type: application/octet-stream");
    req.body_reader = reader;
    req.body_size = static_cast<int64_t>(size);
    HttpResponse res = send(req);
    if (res.status != 201) fail_response(what, res);
    return;
  }
  uint64_t sent = 0;
  while (sent < size) {
    uint64_t n = std::min(chunk_size, size - sent);
    uint64_t left = n;
    HttpRequest req{.method = "PATCH", .url = loc};
    req.headers.push_back("Content-Type: application/octet-stream");
    req.headers.push_back(fmt::format("Content-Range: {}-{}", sent, sent + n - 1));
    req.body_reader = [&](char* buf, size_t cap) -> size_t {
      size_t k = reader(buf, static_cast<size_t>(std::min<uint64_t>(cap, left)));
      left -= k;
      return k;
    };
    req.body_size = static_cast<int64_t>(n);
    HttpResponse res = send(req);
    if (res.status != 202) fail_response(what, res);
    if (std::string l = res.header("location"); !l.empty()) loc = resolve_url(res.effective_url, l);
    sent += n;
  }
  HttpResponse res = send(HttpRequest{.method = "PUT", .url = with_query(loc, digest_q)});
  if (res.status != 201) fail_response(what, res);
}

}  // namespace berth::registry
