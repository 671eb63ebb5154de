// WebUi: berth-hub's web interface, a single-page app (src/hub/ui: plain
// HTML, CSS and JavaScript, no build step) compiled into the binary by
// src/hub/web_ui_embed.cmake and talking to HubApi's JSON routes.
//
// Contract:
// - GET|HEAD / answers ui/index.html; GET|HEAD /ui/<file> answers that
//   asset (404 for an unknown one); other methods there get 405. Every
//   other path returns false, untouched, for the next handler.
// - Content-Type comes from the file's extension. Every answer carries a
//   strict Content-Security-Policy (script-src 'self', no inline script or
//   style, no framing) plus nosniff and same-origin referrers, so even a
//   rendering bug in the app cannot run injected script.
// - Caching: "no-cache" with a content ETag, answered 304 on a matching
//   If-None-Match: browsers revalidate cheaply and never run an old app.js
//   against a newer server.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "http/server.h"

namespace berth::hub {

// One embedded file; path is relative to src/hub/ui ("app.js").
struct EmbeddedFile {
  const char* path;
  const unsigned char* data;
  size_t size;
};

// Defined by the generated source (build dir, generated/hub_ui_assets.cc).
extern const EmbeddedFile kUiAssets[];
extern const size_t kUiAssetCount;

class WebUi {
 public:
  WebUi();  // indexes kUiAssets
  // False when the path is not the UI's (/ or /ui/...).
  bool serve(http::Request& req, http::Response& res);

  // The policy sent with every UI answer.
  static const char* content_security_policy();

 private:
  struct Asset {
    std::string_view body;
    std::string content_type;
    std::string etag;
  };
  std::map<std::string, Asset, std::less<>> assets_;
};

}  // namespace berth::hub
