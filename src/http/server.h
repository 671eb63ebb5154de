// HttpServer: the HTTP/1.1 transport of berthd's Engine API and of
// berth-hub, on unix sockets and TCP.
//
// Contract:
// - One io_context with a small fixed pool of threads accepts connections and
//   reads request headers asynchronously, so idle keep-alive connections cost
//   no thread.
// - Each request's handler runs on a worker thread of its own (workers are
//   reused). Handlers may block for as long as they like — long-polls
//   (/containers/{id}/wait), streams (/events, /logs) and hijacked sessions
//   (attach, exec) are ordinary blocking code and never starve the io pool.
// - Request::body() reads the whole body (up to Options::max_body_bytes);
//   Request::read_body() streams it instead (tar uploads). Whatever the
//   handler leaves unread is drained before the connection is reused.
// - A handler answers with exactly one of Response::send (Content-Length),
//   Response::start_stream + write (chunked) or Response::hijack (the socket
//   leaves HTTP). If it sends nothing the client gets "200" with no body. If
//   it throws before answering, the server answers 500 {"message": what()}.
// - Every response carries Options::default_headers (the Engine API puts
//   docker's Api-Version, Ostype and Server there).
// - stop() shuts every connection down (unblocking handlers stuck in socket
//   I/O), requests stop on every Request::stop_token(), and joins all threads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/query.h"
#include "base/fd.h"

namespace berth::http {

namespace detail {
class Connection;
class ServerImpl;
}

// Path parameters ("{id}" -> value), filled in by the Router.
using Params = std::map<std::string, std::string>;

class Request {
 public:
  Request(detail::Connection* conn, std::stop_token stop);
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  const std::string& method() const { return method_; }
  // The raw request-target, e.g. "/v1.41/containers/json?all=1".
  const std::string& target() const { return target_; }
  // Header value, "" when absent; names are case-insensitive.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // Whether the client came through a unix socket (so it is on this host,
  // and may name the daemon's files, e.g. a build context by path).
  bool on_unix_socket() const;
  // The peer's IP address ("127.0.0.1", "::1"), "" on unix sockets.
  std::string remote_address() const;

  // The whole body. Throws Error if it exceeds the server's body limit or the
  // client disconnects mid-body. Reads at most once; later calls return the same.
  const std::string& body();
  // Parses body() as JSON; an empty body is `null`. Throws Error on bad JSON.
  nlohmann::json json_body();
  // Streams the body: up to n bytes into buf, 0 at its end. Do not mix with body().
  size_t read_body(char* buf, size_t n);

  // Set by the router: the API version the client asked for (the router's
  // default when the path had none), path parameters and the parsed query.
  // Until then path() is the target without its query and query() is parsed
  // from the target.
  const std::string& api_version() const { return api_version_; }
  const std::string& path() const { return path_; }
  std::string param(const std::string& name) const;
  const Query& query() const { return query_; }
  void set_route(std::string api_version, std::string path, Params params, Query query);

  // Requested when the server shuts down; long-running handlers should poll it.
  std::stop_token stop_token() const { return stop_; }

 private:
  detail::Connection* conn_;
  std::stop_token stop_;
  std::string method_;
  std::string target_;
  std::string body_;
  bool body_read_ = false;
  std::string api_version_;
  std::string path_;
  Params params_;
  Query query_;
};

// A hijacked connection: the socket (blocking mode) and any bytes the client
// had already sent past the request. Closing fd ends the session.
struct Hijacked {
  UniqueFd fd;
  std::string buffered;
};

class Response {
 public:
  explicit Response(detail::Connection* conn) : conn_(conn) {}
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;

  // Adds a header to what is sent next (plain, stream or hijack reply).
  void set_header(std::string name, std::string value);

  // A complete response. HEAD requests get the headers (with the body's
  // Content-Length) and no body.
  void send(int status, std::string_view content_type = {}, std::string_view body = {});
  void send_json(int status, const nlohmann::json& j);
  // A complete response whose body is length bytes of fd from offset (blobs
  // of any size, streamed in small pieces).
  void send_file(int status, std::string_view content_type, int fd, uint64_t offset, uint64_t length);
  // Docker's error shape: {"message": "..."}.
  void send_error(int status, std::string_view message);

  // Chunked response: the header goes out now, each write() is one chunk,
  // flushed at once. write() returns false once the client has gone away.
  void start_stream(int status, std::string_view content_type);
  // A streamed response of a known length (a blob proxied from S3): the
  // header goes out now with Content-Length, write() sends bytes as they
  // come (more than length throws). Finished short of length, the
  // connection is closed: the client sees a short body, never a wrong one.
  void start_stream(int status, std::string_view content_type, uint64_t length);
  bool write(std::string_view data);
  // Sends the last chunk; called by the server if the handler did not.
  void finish_stream();

  // Takes the connection out of HTTP as dockerd does for attach/exec:
  // "101 UPGRADED" (Connection: Upgrade, Upgrade: tcp) when the client sent
  // an Upgrade header, a bare "200 OK" otherwise (old clients), with
  // content_type (application/vnd.docker.raw-stream or
  // .../multiplexed-stream) and the headers set so far.
  Hijacked hijack(std::string_view content_type);

  enum class State { kNone, kSent, kStreaming, kStreamDone, kHijacked, kBroken };
  State state() const { return state_; }
  bool answered() const { return state_ != State::kNone; }

 private:
  // The header of a body that follows: of length bytes, or chunked.
  void write_head(int status, std::string_view content_type, std::optional<uint64_t> length);

  detail::Connection* conn_;
  State state_ = State::kNone;
  std::optional<uint64_t> stream_left_;  // bytes a stream of known length still owes
  std::vector<std::pair<std::string, std::string>> headers_;
};

using Handler = std::function<void(Request&, Response&)>;

class HttpServer {
 public:
  struct Options {
    int io_threads = 2;
    // Largest body Request::body() buffers; streamed bodies are unlimited.
    size_t max_body_bytes = size_t{64} << 20;
    // Idle worker threads kept for reuse.
    int max_idle_workers = 8;
    // Sent on every response, hijacked ones included.
    std::vector<std::pair<std::string, std::string>> default_headers;
  };

  HttpServer(Handler handler, Options options);
  ~HttpServer();  // stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds before start(). A stale socket file at path must be removed by the
  // caller (it knows whether another daemon may own it). mode is applied to
  // the socket file before it accepts anything.
  void listen_unix(const std::string& path, mode_t mode = 0660);
  // Returns the bound port (port 0 picks one).
  uint16_t listen_tcp(const std::string& address, uint16_t port);

  void start();
  void stop();

 private:
  std::unique_ptr<detail::ServerImpl> impl_;
};

}  // namespace berth::http
