// WebUi: serves the embedded single-page app (contract in web_ui.h).
#include "hub/web_ui.h"

#include <cstdint>

#include <fmt/format.h>

namespace berth::hub {

namespace {

std::string content_type_for(std::string_view path) {
  auto ends = [&](std::string_view ext) { return path.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

// FNV-1a: a cheap content fingerprint, enough to tell versions apart.
std::string etag_for(std::string_view body) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return fmt::format("\"{:016x}-{}\"", h, body.size());
}

}  // namespace

const char* WebUi::content_security_policy() {
  // connect-src 'self': the app only ever calls this hub's API.
  // form-action 'none': forms are handled by script, never submitted.
  return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
         "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

WebUi::WebUi() {
  for (size_t i = 0; i < kUiAssetCount; i++) {
    const EmbeddedFile& f = kUiAssets[i];
    std::string_view body(reinterpret_cast<const char*>(f.data), f.size);
    assets_.emplace(f.path, Asset{body, content_type_for(f.path), etag_for(body)});
  }
}

bool WebUi::serve(http::Request& req, http::Response& res) {
  const std::string& path = req.path();
  std::string_view name;
  if (path == "/" || path == "/index.html") {
    name = "index.html";
  } else if (path.starts_with("/ui/")) {
    name = std::string_view(path).substr(4);
  } else {
    return false;
  }
  res.set_header("Content-Security-Policy", content_security_policy());
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "same-origin");
  res.set_header("X-Frame-Options", "DENY");
  if (req.method() != "GET" && req.method() != "HEAD") {
    res.set_header("Allow", "GET, HEAD");
    res.send(405, "text/plain; charset=utf-8", "405 method not allowed\n");
    return true;
  }
  auto it = assets_.find(name);
  if (it == assets_.end()) {
    res.send(404, "text/plain; charset=utf-8", "404 page not found\n");
    return true;
  }
  const Asset& a = it->second;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("ETag", a.etag);
  if (req.header("If-None-Match") == a.etag) {
    res.send(304);
    return true;
  }
  res.send(200, a.content_type, a.body);
  return true;
}

}  // namespace berth::hub
