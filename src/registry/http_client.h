// HTTP(S) requests for the registry client, on libcurl.
//
// Why libcurl rather than Boost.Beast (which serves the Engine API): TLS
// with the system's CA store, proxies from the environment, redirects that
// drop credentials when they leave the host, HTTP/2 and connection reuse are
// all done and kept up to date there.
//
// Contract:
// - send() performs one request, following redirects when asked (the
//   Authorization header is not sent to another host, as curl does for
//   custom headers), and returns the final response's status and headers.
//   A 2xx body goes to the sink when one is given, otherwise into
//   HttpResponse::body; a non-2xx body always lands in body (capped at
//   1 MiB) so registry error JSON can be reported.
// - A transport failure (DNS, connect, TLS, timeout, a sink that throws)
//   throws Error "<METHOD> <url>: <curl's reason>"; an exception thrown by a
//   sink or body reader is rethrown unchanged.
// - Connections, DNS and TLS sessions are shared between requests of one
//   client (thread-safe: each call uses its own easy handle).
// - A stalled transfer (under 1 byte/s for low_speed_seconds) is aborted.
// - libcurl.so.4 is loaded on the first send() (Error "load libcurl.so.4: .."
//   if it cannot be), so constructing a client costs nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace berth::registry {

struct HttpResponse;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Body: `body` unless body_reader is set; body_reader fills buf and
  // returns the bytes written, 0 at the end, and body_size (-1: unknown,
  // sent chunked) is announced as Content-Length.
  std::string body;
  std::function<size_t(char* buf, size_t cap)> body_reader;
  int64_t body_size = -1;
  bool follow_redirects = true;
  // Called once with the final status and headers before the first body
  // byte of a 2xx response reaches the sink (e.g. to see whether a Range
  // request was honoured). May throw to abort.
  std::function<void(const HttpResponse&)> on_headers;
  // Do not verify the server's certificate (insecure registries).
  bool insecure_tls = false;
};

struct HttpResponse {
  long status = 0;
  std::multimap<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string effective_url;  // after redirects

  // First value of a header, "" when absent.
  std::string header(std::string_view name) const;
  std::vector<std::string> header_values(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

struct HttpClientOptions {
  std::string user_agent = "berth";
  long connect_timeout_seconds = 30;
  long low_speed_seconds = 60;
  long total_timeout_seconds = 0;  // a whole request's limit; 0: none (pulls of big blobs take long)
};

class HttpClient {
 public:
  using Sink = std::function<void(std::string_view)>;

  explicit HttpClient(HttpClientOptions opts = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse send(const HttpRequest& req, const Sink& sink = {});

 private:
  struct Shared;
  Shared& shared();

  HttpClientOptions opts_;
  std::once_flag shared_once_;
  std::unique_ptr<Shared> shared_;
};

// Percent-encodes s for a URL query component (RFC 3986 unreserved kept).
std::string url_query_escape(std::string_view s);
// Resolves a Location header value against the URL it came from
// (absolute URLs, "/path?q" and relative paths).
std::string resolve_url(const std::string& base, const std::string& location);

}  // namespace berth::registry
