#include "api/http.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "api/router.h"
#include "base/fd.h"
#include "base/fs.h"
#include "api/system_routes.h"

namespace berth::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;

// A blocking HTTP client on one unix-socket connection.
class Client {
 public:
  explicit Client(const std::string& path) : sock_(io_) { sock_.connect(Local::endpoint(path)); }

  http::response<http::string_body> request(http::verb verb, std::string target, std::string body = {},
                                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    send(verb, std::move(target), std::move(body), headers);
    return read();
  }
  void send(http::verb verb, std::string target, std::string body,
            const std::vector<std::pair<std::string, std::string>>& headers) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "docker");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(sock_, req);
  }
  http::response<http::string_body> read() {
    http::response<http::string_body> res;
    http::read(sock_, buf_, res);
    return res;
  }
  // The answer to a HEAD request: a header announcing a body that does not follow.
  http::response<http::empty_body> read_head() {
    http::response_parser<http::empty_body> p;
    p.skip(true);
    http::read(sock_, buf_, p);
    return p.release();
  }
  // The raw bytes of the reply: the header and whatever followed it.
  std::string read_until_eof() {
    std::string out(static_cast<const char*>(buf_.data().data()), buf_.size());
    buf_.consume(buf_.size());
    char tmp[4096];
    boost::system::error_code ec;
    for (;;) {
      size_t n = sock_.read_some(net::buffer(tmp), ec);
      if (ec) break;
      out.append(tmp, n);
    }
    return out;
  }
  Local::socket& socket() { return sock_; }

 private:
  net::io_context io_;
  Local::socket sock_;
  beast::flat_buffer buf_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("berth-api-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "api.sock").string();
    router_.add("GET", "/echo/{x}", [](Request& req, Response& res) {
      res.send_json(200, {{"x", req.param("x")}, {"version", req.api_version()}, {"q", req.query().get("q")}});
    });
    router_.add("POST", "/body", [](Request& req, Response& res) {
      res.send(200, "text/plain", std::to_string(req.body().size()) + ":" + req.body().substr(0, 8));
    });
    router_.add("POST", "/ignore-body", [](Request&, Response& res) { res.send(204); });
    router_.add("GET", "/stream", [](Request&, Response& res) {
      res.start_stream(200, "application/json");
      for (int i = 0; i < 3; ++i) res.write("{\"n\":" + std::to_string(i) + "}\n");
    });
    router_.add("GET", "/fail", [](Request&, Response&) { throw Error("boom"); });
    router_.add("GET", "/conflict", [](Request&, Response&) { throw ApiError(409, "name in use"); });
    router_.add("GET", "/nothing", [](Request&, Response&) {});
    router_.add("GET", "/file", [this](Request&, Response& res) {
      UniqueFd fd(::open((dir_ / "file").c_str(), O_RDONLY | O_CLOEXEC));
      res.send_file(200, "application/octet-stream", fd.get(), 3, 300000);
    });
    // A body of known length written in pieces; ?short=1 stops 10 bytes early.
    auto sized = [](Request& req, Response& res) {
      res.start_stream(200, "application/octet-stream", 100000);
      uint64_t total = req.query().get("short").empty() ? 100000 : 99990;
      for (uint64_t sent = 0; sent < total; sent += 10000) {
        ASSERT_TRUE(res.write(std::string(std::min<uint64_t>(10000, total - sent), 'x')));
      }
    };
    router_.add("GET", "/sized", sized);
    router_.add("HEAD", "/sized", sized);
    router_.add("GET", "/oversized", [](Request&, Response& res) {
      res.start_stream(200, "application/octet-stream", 5);
      res.write("123456");
    });
    router_.add("GET", "/wait", [](Request& req, Response& res) {
      res.start_stream(200, "application/json");
      while (!req.stop_token().stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    // Reads the JSON body first (as exec start does), then echoes the raw
    // stream upper-cased until the client half-closes.
    router_.add("POST", "/hijack", [](Request& req, Response& res) {
      std::string cfg = req.body();
      Hijacked h = res.hijack("application/vnd.docker.multiplexed-stream");
      std::string out = "[" + cfg + "]" + h.buffered;
      char buf[256];
      for (;;) {
        ssize_t n = ::read(h.fd.get(), buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i) out += static_cast<char>(std::toupper(static_cast<unsigned char>(buf[i])));
      }
      ASSERT_EQ(::write(h.fd.get(), out.data(), out.size()), static_cast<ssize_t>(out.size()));
    });
    HttpServer::Options opts = engine_server_options();
    opts.max_body_bytes = 1 << 20;
    server_ = std::make_unique<HttpServer>([this](Request& q, Response& s) { router_.serve(q, s); }, opts);
    server_->listen_unix(path_, 0660);
    server_->start();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::string path_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, SocketModeAndDockerHeaders) {
  EXPECT_EQ(std::filesystem::status(path_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                std::filesystem::perms::group_read | std::filesystem::perms::group_write);
  Client c(path_);
  auto res = c.request(http::verb::get, "/echo/abc");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res["Api-Version"], "1.41");
  EXPECT_EQ(res["Docker-Experimental"], "false");
  EXPECT_EQ(res["Ostype"], "linux");
  EXPECT_EQ(res["Server"], "Berth/0.1 (linux)");
  EXPECT_EQ(res[http::field::content_type], "application/json");
}

TEST_F(HttpServerTest, KeepAliveAndVersions) {
  Client c(path_);
  auto a = c.request(http::verb::get, "/echo/one?q=a%20b");
  auto b = c.request(http::verb::get, "/v1.40/echo/two");
  auto d = c.request(http::verb::get, "/v1.41/echo/three");
  EXPECT_EQ(nlohmann::json::parse(a.body()),
            (nlohmann::json{{"x", "one"}, {"version", "1.41"}, {"q", "a b"}}));
  EXPECT_EQ(nlohmann::json::parse(b.body())["version"], "1.40");
  EXPECT_EQ(nlohmann::json::parse(b.body())["x"], "two");
  EXPECT_EQ(nlohmann::json::parse(d.body())["x"], "three");
  auto tooNew = c.request(http::verb::get, "/v1.99/echo/x");
  EXPECT_EQ(tooNew.result_int(), 400);
  EXPECT_NE(tooNew.body().find("is too new"), std::string::npos);
}

TEST_F(HttpServerTest, NotFoundAndErrors) {
  Client c(path_);
  auto res = c.request(http::verb::get, "/v1.41/containers/json");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(res.body(), "{\"message\":\"page not found\"}\n");
  res = c.request(http::verb::post, "/echo/x");  // known path, wrong method
  EXPECT_EQ(res.result_int(), 404);
  res = c.request(http::verb::get, "/fail");
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_EQ(nlohmann::json::parse(res.body())["message"], "boom");
  res = c.request(http::verb::get, "/conflict");
  EXPECT_EQ(res.result_int(), 409);
  EXPECT_EQ(nlohmann::json::parse(res.body())["message"], "name in use");
  res = c.request(http::verb::get, "/nothing");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "");
}

TEST_F(HttpServerTest, BodiesAndLimits) {
  Client c(path_);
  auto res = c.request(http::verb::post, "/body", R"({"Image":"busybox"})", {{"Content-Type", "application/json"}});
  EXPECT_EQ(res.body(), "19:{\"Image\"");
  // A chunked upload (docker build and load send these).
  http::request<http::string_body> req{http::verb::post, "/body", 11};
  req.chunked(true);
  req.body() = std::string(100000, 'x');
  http::write(c.socket(), req);
  res = c.read();
  EXPECT_EQ(res.body(), "100000:xxxxxxxx");
  // A body the handler never reads is drained; the connection stays usable.
  res = c.request(http::verb::post, "/ignore-body", std::string(300000, 'y'));
  EXPECT_EQ(res.result_int(), 204);
  res = c.request(http::verb::post, "/body", std::string((1 << 20) + 1, 'z'));
  EXPECT_EQ(res.result_int(), 413);
  Client c2(path_);
  EXPECT_EQ(c2.request(http::verb::get, "/echo/after").result_int(), 200);
}

TEST_F(HttpServerTest, ChunkedStream) {
  Client c(path_);
  auto res = c.request(http::verb::get, "/stream");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(res.chunked());
  EXPECT_EQ(res.body(), "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
  EXPECT_EQ(c.request(http::verb::get, "/echo/next").result_int(), 200);  // still keep-alive
}

TEST_F(HttpServerTest, HijackWithUpgrade) {
  Client c(path_);
  c.send(http::verb::post, "/v1.41/hijack", R"({"Tty":false})",
         {{"Connection", "Upgrade"}, {"Upgrade", "tcp"}, {"Content-Type", "application/json"}});
  // Stream bytes sent before the reply arrives end up in Hijacked::buffered
  // or on the socket; either way the handler must see them.
  net::write(c.socket(), net::buffer(std::string("early ")));
  net::write(c.socket(), net::buffer(std::string("hello")));
  c.socket().shutdown(Local::socket::shutdown_send);
  std::string raw = c.read_until_eof();
  ASSERT_TRUE(raw.starts_with(
      "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
      "Connection: Upgrade\r\nUpgrade: tcp\r\n"))
      << raw;
  EXPECT_NE(raw.find("Api-Version: 1.41\r\n"), std::string::npos);
  size_t end = raw.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  std::string payload = raw.substr(end + 4);
  // "early " may have been buffered (kept as is) or read raw (upper-cased).
  EXPECT_TRUE(payload == "[{\"Tty\":false}]early HELLO" || payload == "[{\"Tty\":false}]EARLY HELLO" ||
              payload == "[{\"Tty\":false}]early hello")
      << payload;
}

TEST_F(HttpServerTest, HijackWithoutUpgradeIsPlain200) {
  Client c(path_);
  c.send(http::verb::post, "/hijack", "", {});
  c.socket().shutdown(Local::socket::shutdown_send);
  std::string raw = c.read_until_eof();
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n")) << raw;
  EXPECT_TRUE(raw.ends_with("\r\n\r\n[]")) << raw;
}

TEST_F(HttpServerTest, StopEndsBlockedHandlers) {
  Client c(path_);
  c.send(http::verb::get, "/wait", "", {});
  http::response_parser<http::empty_body> p;
  beast::flat_buffer buf;
  http::read_header(c.socket(), buf, p);
  EXPECT_EQ(p.get().result_int(), 200);
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(HttpServerTest, ManyConcurrentSlowHandlersDoNotStarveOthers) {
  // More blocked requests than io threads: /_ping-like requests still answer.
  std::vector<std::unique_ptr<Client>> waiting;
  for (int i = 0; i < 6; ++i) {
    waiting.push_back(std::make_unique<Client>(path_));
    waiting.back()->send(http::verb::get, "/wait", "", {});
  }
  Client c(path_);
  EXPECT_EQ(c.request(http::verb::get, "/echo/free").result_int(), 200);
  server_->stop();
}

TEST_F(HttpServerTest, AnswersExpectContinueBeforeReadingTheBody) {
  Client c(path_);
  std::string head = "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
  net::write(c.socket(), net::buffer(head));
  char buf[64];
  size_t n = c.socket().read_some(net::buffer(buf));
  EXPECT_EQ(std::string(buf, n), "HTTP/1.1 100 Continue\r\n\r\n");
  net::write(c.socket(), net::buffer(std::string("hello")));
  EXPECT_EQ(c.read().body(), "5:hello");
}

TEST_F(HttpServerTest, SendFileSendsTheRangeAndKeepsTheConnection) {
  std::string data;
  for (int i = 0; i < 400000; ++i) data += static_cast<char>('a' + i % 26);
  write_file((dir_ / "file").string(), data);
  Client c(path_);
  auto res = c.request(http::verb::get, "/file");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_length], "300000");
  EXPECT_EQ(res.body(), data.substr(3, 300000));
  EXPECT_EQ(c.request(http::verb::get, "/echo/next").result_int(), 200);
}

TEST_F(HttpServerTest, StreamOfKnownLengthSendsContentLengthAndClosesWhenShort) {
  Client c(path_);
  auto res = c.request(http::verb::get, "/sized");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.chunked());
  EXPECT_EQ(res[http::field::content_length], "100000");
  EXPECT_EQ(res.body(), std::string(100000, 'x'));
  EXPECT_EQ(c.request(http::verb::get, "/echo/next").result_int(), 200) << "still keep-alive";
  c.send(http::verb::head, "/sized", "", {});
  EXPECT_EQ(c.read_head()[http::field::content_length], "100000");
  EXPECT_EQ(c.request(http::verb::get, "/echo/next").result_int(), 200) << "HEAD sent no body";

  // Short: the client gets the header, 99990 bytes and then the end of the connection.
  Client s(path_);
  s.send(http::verb::get, "/sized?short=1", "", {});
  std::string got = s.read_until_eof();
  EXPECT_NE(got.find("Content-Length: 100000"), std::string::npos);
  EXPECT_EQ(got.size() - (got.find("\r\n\r\n") + 4), 99990u);
  // Longer than announced: nothing past the Content-Length goes out.
  Client o(path_);
  o.send(http::verb::get, "/oversized", "", {});
  got = o.read_until_eof();
  EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), "");
}

TEST(SystemRoutes, PingVersionInfo) {
  auto dir = std::filesystem::temp_directory_path() / ("berth-sys-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  DaemonInfo d;
  d.id = load_or_create_engine_id(dir.string());
  EXPECT_EQ(load_or_create_engine_id(dir.string()), d.id);
  d.data_root = dir.string();
  d.runtimes["berth-runtime"] = {"/usr/bin/berth-runtime", {}};
  d.default_runtime = "berth-runtime";
  Router r;
  add_system_routes(r, d);
  std::string sock = (dir / "s.sock").string();
  HttpServer server([&r](Request& q, Response& s) { r.serve(q, s); }, {});
  server.listen_unix(sock);
  server.start();
  Client c(sock);
  auto ping = c.request(http::verb::get, "/_ping");
  EXPECT_EQ(ping.body(), "OK");
  EXPECT_EQ(ping["Builder-Version"], "1");
  EXPECT_EQ(ping["Cache-Control"], "no-cache, no-store, must-revalidate");
  EXPECT_EQ(ping["Pragma"], "no-cache");
  auto head = c.request(http::verb::head, "/_ping");
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head["Content-Length"], "0");
  auto v = nlohmann::json::parse(c.request(http::verb::get, "/v1.41/version").body());
  EXPECT_EQ(v["ApiVersion"], "1.41");
  EXPECT_EQ(v["MinAPIVersion"], "1.12");
  EXPECT_EQ(v["Components"][0]["Name"], "Engine");
  EXPECT_EQ(v["Components"][0]["Details"]["ApiVersion"], "1.41");
  auto info = nlohmann::json::parse(c.request(http::verb::get, "/info").body());
  EXPECT_EQ(info["ID"], d.id);
  EXPECT_EQ(info["DockerRootDir"], d.data_root);
  EXPECT_EQ(info["Runtimes"]["berth-runtime"]["path"], "/usr/bin/berth-runtime");
  EXPECT_EQ(info["Swarm"]["LocalNodeState"], "inactive");
  EXPECT_TRUE(info["DriverStatus"].is_array());
  EXPECT_TRUE(info["DriverStatus"][0].is_array());
  EXPECT_TRUE(info["CgroupVersion"] == "1" || info["CgroupVersion"] == "2");
  server.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::api
