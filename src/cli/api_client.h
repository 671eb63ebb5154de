// ApiClient: the CLI's side of the Docker Engine API, HTTP/1.1 over a unix
// socket or TCP.
//
// Contract:
// - Every call opens its own connection (the daemon may hold one open for a
//   long stream while another call runs, e.g. attach + wait + start) and
//   prefixes the target with the API version ("/v1.41").
// - Calls that answer JSON throw ApiError for HTTP status >= 400, whose text
//   is docker's "Error response from daemon: <message>"; a daemon that cannot
//   be reached gives docker's "Cannot connect to ..." Error.
// - stream() hands the body to a callback as it arrives (chunked or not), so
//   `logs -f`, events and stats print as the daemon writes.
// - upload() sends a request body read from a file descriptor, chunked, so a
//   tar of any size is never held in memory.
// - hijack() sends `Connection: Upgrade` / `Upgrade: tcp` and, after 101 (or
//   200), returns the raw socket plus whatever bytes arrived with the
//   response head: attach and exec then speak raw bytes in both directions.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fd.h"

namespace berth::cli {

struct Endpoint {
  std::string url;   // as given, for messages
  std::string path;  // unix socket path, or empty for TCP
  std::string host, port;
};

// Parses "unix:///path", "tcp://host:port" (also "host:port", a bare path).
Endpoint parse_endpoint(std::string_view url);
// The daemon to talk to: the -H flag, else $BERTH_HOST, else $DOCKER_HOST,
// else unix:///run/berth/berth.sock.
std::string choose_host(std::string_view flag);

class ApiError : public Error {
 public:
  ApiError(int status, const std::string& message)
      : Error("Error response from daemon: " + message), status_(status), message_(message) {}
  int status() const { return status_; }
  const std::string& message() const { return message_; }  // without the prefix

 private:
  int status_;
  std::string message_;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Hijacked {
  UniqueFd fd;           // the raw, bidirectional connection
  std::string buffered;  // stream bytes read together with the response head
  Response head;
};

// Builds "?a=1&b=x%20y" from pairs, percent-encoding values; empty values
// are kept ("name="), pairs with a nullopt value are skipped.
class Query {
 public:
  Query& add(std::string_view key, std::optional<std::string> value);
  Query& add_if(bool cond, std::string_view key, std::string value) {
    return cond ? add(key, std::move(value)) : *this;
  }
  std::string str() const { return s_; }

 private:
  std::string s_;
};
std::string url_escape(std::string_view s);

class ApiClient {
 public:
  explicit ApiClient(std::string host_url, std::string version = "v1.41");

  // The whole response, whatever its status.
  Response request(std::string_view method, std::string_view target,
                   const std::optional<nlohmann::json>& body = std::nullopt);
  // request() that throws ApiError on >= 400 and parses a JSON body (null if empty).
  nlohmann::json call(std::string_view method, std::string_view target,
                      const std::optional<nlohmann::json>& body = std::nullopt);
  nlohmann::json get(std::string_view target) { return call("GET", target); }
  nlohmann::json post(std::string_view target, const std::optional<nlohmann::json>& body = std::nullopt) {
    return call("POST", target, body);
  }

  using DataSink = std::function<void(std::string_view)>;
  // Streams the body to `sink`; throws ApiError on >= 400. Returns the head.
  Response stream(std::string_view method, std::string_view target, const DataSink& sink,
                  const std::optional<nlohmann::json>& body = std::nullopt);
  // Sends the bytes of `fd` (until EOF) as the body; streams the answer to
  // `sink`; throws ApiError on >= 400.
  Response upload(std::string_view method, std::string_view target, int fd, std::string_view content_type,
                  const DataSink& sink);
  // A response whose head has arrived and whose body is still to come: for
  // `wait`, which must be registered with the daemon before `start`.
  class Pending {
   public:
    ~Pending();
    const Response& head() const { return head_; }
    void read(const DataSink& sink);  // the rest of the body
   private:
    friend class ApiClient;
    Pending() = default;
    struct State;
    std::unique_ptr<State> state_;
    Response head_;
  };
  std::unique_ptr<Pending> open(std::string_view method, std::string_view target,
                                const std::optional<nlohmann::json>& body = std::nullopt);
  Hijacked hijack(std::string_view method, std::string_view target,
                  const std::optional<nlohmann::json>& body = std::nullopt);

  const std::string& host_url() const { return url_; }
  // A header sent with every later request (X-Registry-Auth for pull/push).
  void set_header(std::string name, std::string value) { headers_[std::move(name)] = std::move(value); }

 private:
  struct Conn;
  Response exchange(std::string_view method, std::string_view target, const std::optional<nlohmann::json>& body,
                    const DataSink& sink, bool throw_on_error);
  Response read_response(Conn& c, bool head_only, const DataSink& sink, bool throw_on_error);
  std::string url_;
  Endpoint ep_;
  std::string version_;
  std::map<std::string, std::string> headers_;
};

// The daemon's message from an error body: {"message": "..."} or the raw text.
std::string error_message(const std::string& body);

}  // namespace berth::cli
