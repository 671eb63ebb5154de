#include "http/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/error.h"
#include "base/strings.h"

namespace berth::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using Socket = net::generic::stream_protocol::socket;
using Acceptor = net::basic_socket_acceptor<net::generic::stream_protocol>;
using boost::system::error_code;

static beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

namespace {

// Runs each task on a thread of its own, reusing idle threads. Unbounded on
// purpose: a handler may legitimately block for hours (events, attach), and
// a fixed pool would let a few such clients starve everyone else.
class WorkerPool {
 public:
  explicit WorkerPool(int max_idle) : max_idle_(max_idle) {}
  ~WorkerPool() { join(); }

  void post(std::function<void()> task) {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(task));
    if (idle_ > 0) {
      cv_.notify_one();
      return;
    }
    ++live_;
    // Detached: a worker that retires while others still run cannot join
    // itself; join() waits on live_ instead.
    std::thread([this] { run(); }).detach();
  }

  // Waits until every task has finished and every thread has exited.
  void join() {
    std::unique_lock lock(mu_);
    stopping_ = true;
    cv_.notify_all();
    done_cv_.wait(lock, [this] { return live_ == 0; });
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (!queue_.empty()) {
        std::function<void()> task = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        task();
        task = nullptr;  // release what the task holds before we count as done
        lock.lock();
        continue;
      }
      if (stopping_ || idle_ >= max_idle_) break;
      ++idle_;
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
    }
    --live_;
    // Notify under the lock: once it is released join() may return and the
    // pool be destroyed, so nothing after this line touches *this.
    done_cv_.notify_all();
  }

  const int max_idle_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::deque<std::function<void()>> queue_;
  int idle_ = 0;
  int live_ = 0;
  bool stopping_ = false;
};

}  // namespace

namespace detail {

class ServerImpl {
 public:
  ServerImpl(Handler handler, HttpServer::Options options)
      : handler_(std::move(handler)), options_(options), workers_(options.max_idle_workers) {}

  void listen(const net::generic::stream_protocol::endpoint& ep, const std::string& unix_path, mode_t mode);
  void start();
  void stop();
  // The port of the acceptor bound last (listen_tcp with port 0).
  uint16_t bound_port() const;

  // Connections register their descriptor so stop() can shut them down.
  void track(Connection* c, int fd) {
    std::lock_guard lock(mu_);
    conns_[c] = fd;
  }
  void untrack(Connection* c) {
    std::lock_guard lock(mu_);
    conns_.erase(c);
  }

  void serve(const std::shared_ptr<Connection>& c);
  void post(std::function<void()> task) { workers_.post(std::move(task)); }
  const HttpServer::Options& options() const { return options_; }
  net::io_context& io() { return io_; }

  Handler handler_;
  const HttpServer::Options options_;
  std::stop_source stop_source_;

 private:
  void accept(Acceptor& a);

  // Declaration order is destruction order reversed: the registry must
  // outlive io_ (destroying io_ destroys idle connections, which untrack).
  std::mutex mu_;
  std::map<Connection*, int> conns_;
  WorkerPool workers_;
  net::io_context io_{1};
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<std::thread> threads_;
  bool started_ = false;
  bool stopped_ = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Socket socket, ServerImpl* server) : socket_(std::move(socket)), server_(server) {
    server_->track(this, socket_.native_handle());
  }
  ~Connection() {
    // Untrack before the socket member closes the descriptor, so stop()
    // never shuts down a number the kernel has handed to someone else.
    server_->untrack(this);
  }

  // Reads the next request's header asynchronously, then hands the request
  // to a worker thread.
  void read_next() {
    continue_sent_ = false;
    parser_.emplace();
    parser_->header_limit(1 << 20);
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    bhttp::async_read_header(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) {
      if (ec) return;  // closed or garbage: drop the connection
      self->server_->post([self] { self->server_->serve(self); });
    });
  }

  const bhttp::request<bhttp::buffer_body>& request() const { return parser_->get(); }
  bool on_unix_socket() {
    struct sockaddr_storage addr {};
    socklen_t len = sizeof addr;
    return ::getsockname(socket_.native_handle(), reinterpret_cast<struct sockaddr*>(&addr), &len) == 0 &&
           addr.ss_family == AF_UNIX;
  }
  std::string remote_address() {
    struct sockaddr_storage addr {};
    socklen_t len = sizeof addr;
    if (::getpeername(socket_.native_handle(), reinterpret_cast<struct sockaddr*>(&addr), &len) != 0) return {};
    char buf[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
    } else if (addr.ss_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof buf);
    }
    return buf;
  }
  bool body_done() const { return parser_->is_done(); }

  size_t read_body(char* buf, size_t n) {
    // A client that asked to be told before it sends the body (curl does for
    // large PUTs) would otherwise wait a second for the go-ahead.
    if (!continue_sent_ && !parser_->is_done()) {
      continue_sent_ = true;
      auto it = parser_->get().find(bhttp::field::expect);
      if (it != parser_->get().end() && beast::iequals(it->value(), "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        write_all(net::const_buffer(kContinue.data(), kContinue.size()));
      }
    }
    while (!parser_->is_done()) {
      parser_->get().body().data = buf;
      parser_->get().body().size = n;
      error_code ec;
      bhttp::read_some(socket_, buffer_, *parser_, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        broken_ = true;
        throw Error("read request body: " + ec.message());
      }
      size_t got = n - parser_->get().body().size;
      if (got > 0) return got;
    }
    return 0;
  }

  // Reads and discards what the handler left of the body; false if there
  // was too much to be worth it (the connection is then closed instead).
  bool drain_body(size_t limit) {
    char scratch[16384];
    size_t total = 0;
    while (!parser_->is_done()) {
      total += read_body(scratch, sizeof scratch);
      if (total > limit) return false;
    }
    return true;
  }

  void write_all(net::const_buffer b) {
    error_code ec;
    net::write(socket_, b, ec);
    if (ec) {
      broken_ = true;
      throw Error("write response: " + ec.message());
    }
  }
  template <class Body>
  void write_message(bhttp::response<Body>& res, bool header_only) {
    error_code ec;
    if (header_only) {
      bhttp::response_serializer<Body> sr{res};
      bhttp::write_header(socket_, sr, ec);
    } else {
      bhttp::write(socket_, res, ec);
    }
    if (ec) {
      broken_ = true;
      throw Error("write response: " + ec.message());
    }
  }
  // Copies through a small buffer rather than sendfile(2): with sendfile a
  // client on the same host (the usual case for a hub's CI runners and for
  // bench/hub) copies every byte straight out of the page cache, cold, on its
  // own CPU time. skopeo pulling a 256 MiB layer took 10% longer that way
  // than from distribution (which copies); this way it is as fast or faster.
  void send_file(int fd, uint64_t offset, uint64_t length) {
    std::vector<char> buf(std::min<uint64_t>(length, kFileChunk));
    uint64_t left = length;
    off_t off = static_cast<off_t>(offset);
    while (left > 0) {
      ssize_t got = ::pread(fd, buf.data(), std::min<uint64_t>(left, buf.size()), off);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        broken_ = true;
        if (got == 0) throw Error("send file: the file is shorter than the response's length");
        fail_errno("send file: read");
      }
      write_all(net::const_buffer(buf.data(), static_cast<size_t>(got)));
      off += got;
      left -= static_cast<uint64_t>(got);
    }
  }
  template <class Chunk>
  bool write_chunk(const Chunk& chunk) {
    error_code ec;
    net::write(socket_, chunk, ec);
    if (ec) broken_ = true;
    return !ec;
  }

  // Leaves HTTP: the descriptor (in blocking mode) and unparsed input.
  Hijacked release() {
    server_->untrack(this);
    Hijacked h;
    auto data = buffer_.data();
    h.buffered.assign(static_cast<const char*>(data.data()), data.size());
    buffer_.consume(buffer_.size());
    error_code ec;
    int fd = socket_.release(ec);
    if (ec) throw Error("hijack connection: " + ec.message());
    h.fd.reset(fd);
    // Asio put the socket in non-blocking mode for its async reads.
    int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    hijacked_ = true;
    return h;
  }

  void shutdown_send() {
    error_code ec;
    socket_.shutdown(net::socket_base::shutdown_send, ec);
  }

  bool head() const { return parser_->get().method() == bhttp::verb::head; }
  bool keep_alive() const { return parser_->get().keep_alive(); }
  bool broken() const { return broken_; }
  void mark_broken() { broken_ = true; }
  bool hijacked() const { return hijacked_; }
  ServerImpl* server() const { return server_; }

 private:
  // send_file's buffer: of 32, 64 and 128 KiB, 32 KiB gave the fastest skopeo pulls.
  static constexpr uint64_t kFileChunk = 32 * 1024;

  Socket socket_;
  ServerImpl* server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  bool broken_ = false;
  bool hijacked_ = false;
  bool continue_sent_ = false;
};

}  // namespace detail

// ---- Request

Request::Request(detail::Connection* conn, std::stop_token stop) : conn_(conn), stop_(std::move(stop)) {
  const auto& r = conn_->request();
  method_ = std::string(r.method_string());
  target_ = std::string(r.target());
  size_t q = target_.find('?');
  path_ = target_.substr(0, q);
  if (q != std::string::npos) query_ = Query::parse(std::string_view(target_).substr(q + 1));
}

std::string Request::header(std::string_view name) const {
  auto it = conn_->request().find(bsv(name));
  return it == conn_->request().end() ? std::string() : std::string(it->value());
}

bool Request::on_unix_socket() const { return conn_->on_unix_socket(); }

std::string Request::remote_address() const { return conn_->remote_address(); }

bool Request::has_header(std::string_view name) const {
  return conn_->request().find(bsv(name)) != conn_->request().end();
}

const std::string& Request::body() {
  if (body_read_) return body_;
  size_t limit = conn_->server()->options().max_body_bytes;
  char buf[16384];
  while (size_t n = conn_->read_body(buf, sizeof buf)) {
    if (body_.size() + n > limit) {
      throw HttpError(413, fmt::format("request body exceeds {} bytes", limit));
    }
    body_.append(buf, n);
  }
  body_read_ = true;
  return body_;
}

nlohmann::json Request::json_body() {
  const std::string& b = body();
  if (trim(b).empty()) return nullptr;
  nlohmann::json j = nlohmann::json::parse(b, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw HttpError(400, "invalid JSON in request body");
  return j;
}

size_t Request::read_body(char* buf, size_t n) { return conn_->read_body(buf, n); }

std::string Request::param(const std::string& name) const {
  auto it = params_.find(name);
  return it == params_.end() ? std::string() : it->second;
}

void Request::set_route(std::string api_version, std::string path, Params params, Query query) {
  api_version_ = std::move(api_version);
  path_ = std::move(path);
  params_ = std::move(params);
  query_ = std::move(query);
}

// ---- Response

template <class Fields>
static void add_default_headers(const HttpServer::Options& options, Fields& f) {
  for (const auto& [k, v] : options.default_headers) f.set(bsv(k), bsv(v));
}

// Status line and headers every complete or streamed response starts with:
// the server's defaults, the content type, then what the handler set.
template <class Body>
static void fill_head(bhttp::response<Body>& r, int status, std::string_view content_type, const HttpServer::Options& options,
               const std::vector<std::pair<std::string, std::string>>& headers, bool keep_alive) {
  r.version(11);
  r.result(static_cast<unsigned>(status));
  add_default_headers(options, r);
  if (!content_type.empty()) r.set(bhttp::field::content_type, bsv(content_type));
  for (const auto& [k, v] : headers) r.set(bsv(k), bsv(v));
  r.keep_alive(keep_alive);
}

void Response::set_header(std::string name, std::string value) {
  headers_.emplace_back(std::move(name), std::move(value));
}

void Response::send(int status, std::string_view content_type, std::string_view body) {
  if (answered()) throw Error("response already sent");
  state_ = State::kBroken;  // until the write succeeds
  bhttp::response<bhttp::string_body> r;
  fill_head(r, status, content_type, conn_->server()->options(), headers_, conn_->keep_alive());
  r.body() = std::string(body);
  // 1xx, 204 and 304 never carry a body or a Content-Length.
  if (status != 204 && status != 304 && status >= 200) r.prepare_payload();
  conn_->write_message(r, conn_->head());
  state_ = State::kSent;
}

void Response::write_head(int status, std::string_view content_type, std::optional<uint64_t> length) {
  if (answered()) throw Error("response already sent");
  state_ = State::kBroken;  // until the body is written
  bhttp::response<bhttp::empty_body> r;
  fill_head(r, status, content_type, conn_->server()->options(), headers_, conn_->keep_alive());
  if (length) {
    r.content_length(*length);
  } else {
    r.chunked(true);
  }
  conn_->write_message(r, /*header_only=*/true);
}

void Response::send_file(int status, std::string_view content_type, int fd, uint64_t offset, uint64_t length) {
  write_head(status, content_type, length);
  if (!conn_->head()) conn_->send_file(fd, offset, length);
  state_ = State::kSent;
}

void Response::send_json(int status, const nlohmann::json& j) {
  // Go's json.Encoder ends every document with a newline; clients that read
  // line by line rely on it.
  send(status, "application/json", j.dump() + "\n");
}

void Response::send_error(int status, std::string_view message) {
  send_json(status, nlohmann::json{{"message", std::string(message)}});
}

void Response::start_stream(int status, std::string_view content_type) {
  write_head(status, content_type, std::nullopt);
  state_ = conn_->head() ? State::kStreamDone : State::kStreaming;
}

void Response::start_stream(int status, std::string_view content_type, uint64_t length) {
  write_head(status, content_type, length);
  stream_left_ = length;
  state_ = conn_->head() ? State::kStreamDone : State::kStreaming;
}

bool Response::write(std::string_view data) {
  if (state_ == State::kStreamDone && conn_->head()) return true;
  if (state_ != State::kStreaming) return false;
  if (data.empty()) return true;  // an empty chunk would end the stream
  if (stream_left_) {
    if (data.size() > *stream_left_) {
      state_ = State::kBroken;
      throw Error(fmt::format("response body longer than its Content-Length ({} bytes were left)", *stream_left_));
    }
    try {
      conn_->write_all(net::const_buffer(data.data(), data.size()));
    } catch (const Error&) {
      state_ = State::kBroken;
      return false;
    }
    *stream_left_ -= data.size();
    return true;
  }
  if (!conn_->write_chunk(bhttp::make_chunk(net::const_buffer(data.data(), data.size())))) {
    state_ = State::kBroken;
    return false;
  }
  return true;
}

void Response::finish_stream() {
  if (state_ != State::kStreaming) return;
  if (stream_left_) {
    state_ = *stream_left_ == 0 ? State::kStreamDone : State::kBroken;  // broken: the server closes
    return;
  }
  state_ = conn_->write_chunk(bhttp::make_chunk_last()) ? State::kStreamDone : State::kBroken;
}

Hijacked Response::hijack(std::string_view content_type) {
  if (answered()) throw Error("response already sent");
  state_ = State::kBroken;
  // Bytes after the request body belong to the raw stream, so the body must
  // be consumed (handlers that need it call Request::body() first).
  if (!conn_->drain_body(conn_->server()->options().max_body_bytes)) {
    throw HttpError(413, "request body too large to hijack");
  }
  // Written by hand, exactly as dockerd does after http.Hijacker.Hijack():
  // Go's server is out of the picture by then, so the status line is
  // "101 UPGRADED" rather than a standard reason phrase.
  std::string head;
  if (conn_->request().find(bhttp::field::upgrade) != conn_->request().end()) {
    head = fmt::format("HTTP/1.1 101 UPGRADED\r\nContent-Type: {}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n",
                       content_type);
  } else {
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n";
  }
  bhttp::fields f;
  add_default_headers(conn_->server()->options(), f);
  for (const auto& [k, v] : headers_) f.set(bsv(k), bsv(v));
  for (const auto& field : f) {
    head += std::string(field.name_string()) + ": " + std::string(field.value()) + "\r\n";
  }
  head += "\r\n";
  conn_->write_all(net::const_buffer(head.data(), head.size()));
  Hijacked h = conn_->release();
  state_ = State::kHijacked;
  return h;
}

// ---- HttpServer

void detail::ServerImpl::listen(const net::generic::stream_protocol::endpoint& ep, const std::string& unix_path,
                              mode_t mode) {
  auto a = std::make_unique<Acceptor>(io_);
  error_code ec;
  std::string where = unix_path.empty() ? "tcp listener" : unix_path;
  if (a->open(ep.protocol(), ec)) throw Error(fmt::format("listen on {}: {}", where, ec.message()));
  if (unix_path.empty()) a->set_option(net::socket_base::reuse_address(true), ec);
  if (a->bind(ep, ec)) throw Error(fmt::format("listen on {}: {}", where, ec.message()));
  // Permissions are fixed before listen(): until then nobody can connect.
  if (!unix_path.empty() && ::chmod(unix_path.c_str(), mode) != 0) fail_errno("chmod {}", unix_path);
  if (a->listen(net::socket_base::max_listen_connections, ec)) {
    throw Error(fmt::format("listen on {}: {}", where, ec.message()));
  }
  acceptors_.push_back(std::move(a));
}

uint16_t detail::ServerImpl::bound_port() const {
  // The generic endpoint does not say which family it holds; look at the sockaddr.
  auto ep = acceptors_.back()->local_endpoint();
  const sockaddr* sa = ep.data();
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  if (sa->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  return 0;
}

void detail::ServerImpl::accept(Acceptor& a) {
  a.async_accept([this, &a](error_code ec, Socket s) {
    if (ec == net::error::operation_aborted || stop_source_.stop_requested()) return;
    if (!ec) {
      // As Go's net/http: responses go out header first, body after, and
      // with Nagle's algorithm a small write may wait for the peer's ACK.
      error_code ignored;
      if (s.local_endpoint(ignored).protocol().family() != AF_UNIX) {
        int one = 1;
        ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      std::make_shared<detail::Connection>(std::move(s), this)->read_next();
      accept(a);
      return;
    }
    // Out of descriptors or similar: back off instead of spinning.
    auto timer = std::make_shared<net::steady_timer>(io_, std::chrono::milliseconds(100));
    timer->async_wait([this, &a, timer](error_code) { accept(a); });
  });
}

void detail::ServerImpl::start() {
  if (started_) return;
  started_ = true;
  for (auto& a : acceptors_) accept(*a);
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
    threads_.emplace_back([this] { io_.run(); });
  }
}

void detail::ServerImpl::stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_source_.request_stop();
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (auto& a : acceptors_) {
    error_code ec;
    a->close(ec);
  }
  {
    // Unblocks handlers sitting in socket reads or writes.
    std::lock_guard lock(mu_);
    for (const auto& [c, fd] : conns_) ::shutdown(fd, SHUT_RDWR);
  }
  workers_.join();
}

void detail::ServerImpl::serve(const std::shared_ptr<detail::Connection>& c) {
  Request req(c.get(), stop_source_.get_token());
  Response res(c.get());
  try {
    try {
      handler_(req, res);
    } catch (const std::exception& e) {
      if (res.answered()) throw;
      auto* api = dynamic_cast<const HttpError*>(&e);
      res.send_error(api ? api->status() : 500, e.what());
    }
    switch (res.state()) {
      case Response::State::kNone:
        res.send(200);
        break;
      case Response::State::kStreaming:
        res.finish_stream();
        break;
      case Response::State::kHijacked:
        return;  // the handler owns (and has probably closed) the socket
      default:
        break;
    }
  } catch (const std::exception&) {
    c->mark_broken();
  }
  if (res.state() == Response::State::kBroken || c->broken() || !c->keep_alive()) {
    c->shutdown_send();
    return;
  }
  try {
    if (!c->drain_body(options_.max_body_bytes)) {
      c->shutdown_send();
      return;
    }
  } catch (const std::exception&) {
    return;
  }
  if (stop_source_.stop_requested()) return;
  c->read_next();
}

HttpServer::HttpServer(Handler handler, Options options)
    : impl_(std::make_unique<detail::ServerImpl>(std::move(handler), options)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::listen_unix(const std::string& path, mode_t mode) {
  impl_->listen(net::generic::stream_protocol::endpoint(net::local::stream_protocol::endpoint(path)), path, mode);
}

uint16_t HttpServer::listen_tcp(const std::string& address, uint16_t port) {
  error_code ec;
  auto addr = net::ip::make_address(address, ec);
  if (ec) throw Error(fmt::format("listen on tcp://{}:{}: invalid address", address, port));
  net::ip::tcp::endpoint tep(addr, port);
  impl_->listen(net::generic::stream_protocol::endpoint(tep), "", 0);
  return impl_->bound_port();
}

void HttpServer::start() { impl_->start(); }
void HttpServer::stop() { impl_->stop(); }

}  // namespace berth::http
