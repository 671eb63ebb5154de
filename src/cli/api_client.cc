#include "cli/api_client.h"

#include <unistd.h>

#include <cstdlib>
#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace berth::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;

// Not boost::none: Boost 1.74's parser compares the length with the optional
// itself, so "no limit" reads as a limit of less than zero.
constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

Endpoint parse_endpoint(std::string_view url) {
  Endpoint ep;
  ep.url = url;
  std::string_view rest = url;
  if (rest.starts_with("unix://")) {
    ep.path = rest.substr(7);
  } else if (rest.starts_with("/")) {
    ep.path = rest;
    ep.url = "unix://" + std::string(url);
  } else {
    if (rest.starts_with("tcp://")) rest.remove_prefix(6);
    else if (rest.starts_with("http://")) rest.remove_prefix(7);
    else if (rest.find("://") != std::string_view::npos) fail("unsupported protocol in host \"{}\"", url);
    if (size_t slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
    size_t colon = rest.rfind(':');
    ep.host = colon == std::string_view::npos ? rest : rest.substr(0, colon);
    ep.port = colon == std::string_view::npos ? "2375" : rest.substr(colon + 1);
    if (ep.host.empty()) ep.host = "127.0.0.1";
  }
  if (ep.path.empty() && ep.host.empty()) fail("invalid host \"{}\"", url);
  return ep;
}

std::string choose_host(std::string_view flag) {
  if (!flag.empty()) return std::string(flag);
  for (const char* var : {"BERTH_HOST", "DOCKER_HOST"})
    if (const char* v = std::getenv(var); v && *v) return v;
  return "unix:///run/berth/berth.sock";
}

std::string url_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

Query& Query::add(std::string_view key, std::optional<std::string> value) {
  if (!value) return *this;
  s_ += s_.empty() ? "?" : "&";
  s_ += url_escape(key) + "=" + url_escape(*value);
  return *this;
}

std::string error_message(const std::string& body) {
  try {
    json j = json::parse(body);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"];
  } catch (const json::exception&) {
  }
  std::string_view t = body;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
  return std::string(t);
}

// One connection: an io_context of its own, the socket, and the read buffer
// (which may hold bytes past the response head).
struct ApiClient::Conn {
  asio::io_context io;
  asio::generic::stream_protocol::socket sock{io};
  beast::flat_buffer buf;

  explicit Conn(const Endpoint& ep) {
    boost::system::error_code ec;
    if (!ep.path.empty()) {
      asio::local::stream_protocol::endpoint local(ep.path);
      sock.connect(asio::generic::stream_protocol::endpoint(local), ec);
    } else {
      asio::ip::tcp::resolver resolver(io);
      auto results = resolver.resolve(ep.host, ep.port, ec);
      ec = asio::error::host_not_found;
      for (const auto& r : results) {
        boost::system::error_code e2;
        if (sock.is_open()) sock.close(e2);
        sock.connect(asio::generic::stream_protocol::endpoint(r.endpoint()), ec);
        if (!ec) break;
      }
    }
    if (ec)
      fail("Cannot connect to the Docker daemon at {}. Is the docker daemon running?", ep.url);
  }
};

namespace {

using Headers = std::map<std::string, std::string>;

template <class Req>
void fill_common(Req& req, std::string_view version, std::string_view method, std::string_view target,
                 const Headers& extra) {
  req.method_string(std::string(method));
  req.target("/" + std::string(version) + std::string(target));
  req.version(11);
  req.set(http::field::host, "api.moby.localhost");
  req.set(http::field::user_agent, "Berth-Client/0.1 (linux)");
  for (const auto& [name, value] : extra) req.set(name, value);
}

// A request with a JSON body (or none), ready to write.
http::request<http::string_body> json_request(std::string_view version, std::string_view method,
                                              std::string_view target, const std::optional<json>& body,
                                              const Headers& extra) {
  http::request<http::string_body> req;
  fill_common(req, version, method, target, extra);
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = body->dump();
  }
  req.prepare_payload();
  return req;
}

template <class Parser>
Response head_of(const Parser& p) {
  Response r;
  r.status = static_cast<int>(p.get().result_int());
  for (const auto& f : p.get()) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  return r;
}

void check(const boost::system::error_code& ec, std::string_view what) {
  if (ec) fail("{}: {}", what, ec.message());
}

// Reads the rest of a response whose head `p` already holds, passing the body to sink.
template <class Stream>
void read_body(Stream& sock, beast::flat_buffer& buf, http::response_parser<http::buffer_body>& p,
               const ApiClient::DataSink& sink) {
  char tmp[64 * 1024];
  while (!p.is_done()) {
    p.get().body().data = tmp;
    p.get().body().size = sizeof tmp;
    boost::system::error_code ec;
    // read_some, not read: read() keeps going until the 64 KiB buffer is
    // full, which would hold back a trickle of progress or log lines.
    http::read_some(sock, buf, p, ec);
    if (ec == http::error::need_buffer) ec = {};
    // A daemon that closes a stream without the last chunk (killed, or a
    // stream cut short) ends the body; what arrived is still valid.
    if (ec == http::error::partial_message || ec == asio::error::eof || ec == asio::error::connection_reset) {
      size_t n = sizeof tmp - p.get().body().size;
      if (n) sink(std::string_view(tmp, n));
      return;
    }
    check(ec, "reading response");
    size_t n = sizeof tmp - p.get().body().size;
    if (n) sink(std::string_view(tmp, n));
  }
}

}  // namespace

ApiClient::ApiClient(std::string host_url, std::string version)
    : url_(std::move(host_url)), ep_(parse_endpoint(url_)), version_(std::move(version)) {}

Response ApiClient::request(std::string_view method, std::string_view target, const std::optional<json>& body) {
  std::string text;
  Response head = exchange(method, target, body, [&](std::string_view d) { text.append(d); }, false);
  head.body = std::move(text);
  return head;
}

json ApiClient::call(std::string_view method, std::string_view target, const std::optional<json>& body) {
  Response r = request(method, target, body);
  if (r.status >= 400) throw ApiError(r.status, error_message(r.body));
  if (r.body.find_first_not_of(" \r\n\t") == std::string::npos) return nullptr;
  try {
    return json::parse(r.body);
  } catch (const json::exception& e) {
    fail("invalid JSON from the daemon for {} {}: {}", method, target, e.what());
  }
}

Response ApiClient::stream(std::string_view method, std::string_view target, const DataSink& sink,
                           const std::optional<json>& body) {
  return exchange(method, target, body, sink, true);
}

Response ApiClient::exchange(std::string_view method, std::string_view target, const std::optional<json>& body,
                             const DataSink& sink, bool throw_on_error) {
  Conn c(ep_);
  auto req = json_request(version_, method, target, body, headers_);
  boost::system::error_code ec;
  http::write(c.sock, req, ec);
  check(ec, "sending request");
  return read_response(c, method == "HEAD", sink, throw_on_error);
}

Response ApiClient::read_response(Conn& c, bool head_only, const DataSink& sink, bool throw_on_error) {
  http::response_parser<http::buffer_body> p;
  p.body_limit(kNoLimit);
  if (head_only) p.skip(true);
  boost::system::error_code ec;
  http::read_header(c.sock, c.buf, p, ec);
  check(ec, "reading response");
  Response head = head_of(p);
  if (head.status >= 400 && throw_on_error) {
    std::string err;
    read_body(c.sock, c.buf, p, [&](std::string_view d) { err.append(d); });
    throw ApiError(head.status, error_message(err));
  }
  read_body(c.sock, c.buf, p, sink);
  return head;
}

Response ApiClient::upload(std::string_view method, std::string_view target, int fd, std::string_view content_type,
                           const DataSink& sink) {
  Conn c(ep_);
  http::request<http::empty_body> req;
  fill_common(req, version_, method, target, headers_);
  req.set(http::field::content_type, std::string(content_type));
  req.chunked(true);
  http::request_serializer<http::empty_body> sr(req);
  boost::system::error_code ec;
  http::write_header(c.sock, sr, ec);
  check(ec, "sending request");
  std::vector<char> chunk(256 * 1024);
  while (true) {
    ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("reading request body");
    }
    if (n == 0) break;
    asio::write(c.sock, http::make_chunk(asio::buffer(chunk.data(), static_cast<size_t>(n))), ec);
    // The daemon may answer (an error) and close before taking everything.
    if (ec) break;
  }
  if (!ec) asio::write(c.sock, http::make_chunk_last(), ec);
  return read_response(c, false, sink, true);
}

struct ApiClient::Pending::State {
  explicit State(const Endpoint& ep) : conn(ep) { parser.body_limit(kNoLimit); }
  Conn conn;
  http::response_parser<http::buffer_body> parser;
};

ApiClient::Pending::~Pending() = default;

void ApiClient::Pending::read(const DataSink& sink) {
  read_body(state_->conn.sock, state_->conn.buf, state_->parser, sink);
}

std::unique_ptr<ApiClient::Pending> ApiClient::open(std::string_view method, std::string_view target,
                                                    const std::optional<json>& body) {
  std::unique_ptr<Pending> pr(new Pending());
  pr->state_ = std::make_unique<Pending::State>(ep_);
  Conn& c = pr->state_->conn;
  auto req = json_request(version_, method, target, body, headers_);
  boost::system::error_code ec;
  http::write(c.sock, req, ec);
  check(ec, "sending request");
  auto& p = pr->state_->parser;
  http::read_header(c.sock, c.buf, p, ec);
  check(ec, "reading response");
  pr->head_ = head_of(p);
  if (pr->head_.status >= 400) {
    std::string err;
    read_body(c.sock, c.buf, p, [&](std::string_view d) { err.append(d); });
    throw ApiError(pr->head_.status, error_message(err));
  }
  return pr;
}

Hijacked ApiClient::hijack(std::string_view method, std::string_view target, const std::optional<json>& body) {
  Conn c(ep_);
  auto req = json_request(version_, method, target, body, headers_);
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::upgrade, "tcp");
  boost::system::error_code ec;
  http::write(c.sock, req, ec);
  check(ec, "sending request");
  http::response_parser<http::buffer_body> p;
  p.body_limit(kNoLimit);
  http::read_header(c.sock, c.buf, p, ec);
  check(ec, "reading response");
  Hijacked h;
  h.head = head_of(p);
  if (h.head.status >= 400) {
    std::string err;
    read_body(c.sock, c.buf, p, [&](std::string_view d) { err.append(d); });
    throw ApiError(h.head.status, error_message(err));
  }
  if (h.head.status != 101 && h.head.status != 200)
    fail("unexpected status {} from the daemon for {} {}", h.head.status, method, target);
  h.buffered = beast::buffers_to_string(c.buf.data());
  h.fd = UniqueFd(::dup(c.sock.native_handle()));
  if (!h.fd.valid()) fail_errno("dup");
  return h;
}

}  // namespace berth::cli
