#include "cli/api_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "base/test_util.h"

namespace berth::cli {
namespace {

TEST(Endpoint, Parses) {
  EXPECT_EQ(parse_endpoint("unix:///run/berth/berth.sock").path, "/run/berth/berth.sock");
  Endpoint t = parse_endpoint("tcp://127.0.0.1:2375");
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, "2375");
  EXPECT_EQ(parse_endpoint("/x.sock").path, "/x.sock");
  EXPECT_THROW(parse_endpoint("ssh://host"), Error);
  EXPECT_EQ(choose_host("unix:///flag.sock"), "unix:///flag.sock");
}

TEST(Query, Escapes) {
  EXPECT_EQ(Query().add("name", "a b").add("x", std::nullopt).add("f", "{\"a\":1}").str(),
            "?name=a%20b&f=%7B%22a%22%3A1%7D");
  EXPECT_EQ(error_message(R"({"message":"No such container: x"})"), "No such container: x");
  EXPECT_EQ(error_message("plain text\n"), "plain text");
}

// A one-connection-at-a-time fake daemon: reads a request head (and, when
// asked, a chunked body) and writes a canned reply.
class FakeDaemon {
 public:
  using Handler = std::function<void(int fd, const std::string& request)>;
  FakeDaemon(const std::string& path, int connections, Handler h) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::listen(fd_, 8);
    thread_ = std::thread([this, connections, h] {
      for (int i = 0; i < connections; ++i) {
        int c = ::accept(fd_, nullptr, nullptr);
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        h(c, req);
        ::close(c);
      }
    });
  }
  ~FakeDaemon() {
    thread_.join();
    ::close(fd_);
  }

 private:
  std::string path_;
  int fd_;
  std::thread thread_;
};

void send(int fd, const std::string& s) { ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

TEST(ApiClient, JsonCallsAndErrors) {
  test::TempDir dir;
  std::string sock = dir.path() + "/d.sock";
  std::string seen;
  FakeDaemon d(sock, 2, [&](int fd, const std::string& req) {
    seen += req.substr(0, req.find("\r\n")) + "\n";
    auto reply = [&](const std::string& status, const std::string& body) {
      send(fd, "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    };
    if (req.find("/containers/json") != std::string::npos) reply("200 OK", R"([{"Id":"a"}])");
    else reply("404 Not Found", R"({"message":"No such container: x"})");
  });
  ApiClient api("unix://" + sock);
  EXPECT_EQ(api.get("/containers/json?all=1")[0]["Id"], "a");
  try {
    api.post("/containers/x/start");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_STREQ(e.what(), "Error response from daemon: No such container: x");
  }
  EXPECT_EQ(seen, "GET /v1.41/containers/json?all=1 HTTP/1.1\nPOST /v1.41/containers/x/start HTTP/1.1\n");
}

TEST(ApiClient, StreamsChunkedBodies) {
  test::TempDir dir;
  std::string sock = dir.path() + "/d.sock";
  FakeDaemon d(sock, 1, [&](int fd, const std::string&) {
    send(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    send(fd, "6\r\nhello \r\n");
    usleep(10000);
    send(fd, "6\r\nworld\n\r\n0\r\n\r\n");
  });
  ApiClient api("unix://" + sock);
  std::vector<std::string> parts;
  api.stream("GET", "/events", [&](std::string_view p) { parts.emplace_back(p); });
  std::string all;
  for (auto& p : parts) all += p;
  EXPECT_EQ(all, "hello world\n");
}

TEST(ApiClient, HijackKeepsBytesThatCameWithTheHead) {
  test::TempDir dir;
  std::string sock = dir.path() + "/d.sock";
  FakeDaemon d(sock, 1, [&](int fd, const std::string& req) {
    EXPECT_NE(req.find("Upgrade: tcp"), std::string::npos);
    send(fd, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly");
    char buf[16];
    ssize_t n = ::read(fd, buf, sizeof buf);
    send(fd, "echo:" + std::string(buf, static_cast<size_t>(n)));
  });
  ApiClient api("unix://" + sock);
  Hijacked h = api.hijack("POST", "/containers/x/attach?stream=1");
  EXPECT_EQ(h.head.status, 101);
  std::string got = h.buffered;
  send(h.fd.get(), "ping");
  char buf[64];
  while (got.size() < std::string("earlyecho:ping").size()) {
    ssize_t n = ::read(h.fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, "earlyecho:ping");
}

TEST(ApiClient, UploadsFromAFileDescriptor) {
  test::TempDir dir;
  std::string sock = dir.path() + "/d.sock";
  std::string body;
  FakeDaemon d(sock, 1, [&](int fd, const std::string& req) {
    std::string all = req;
    char buf[4096];
    while (all.find("0\r\n\r\n") == std::string::npos) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      all.append(buf, static_cast<size_t>(n));
    }
    body = all.substr(all.find("\r\n\r\n") + 4);
    send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"status\":\"done\"}");
  });
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  send(p[1], "tar bytes");
  ::close(p[1]);
  ApiClient api("unix://" + sock);
  std::string reply;
  api.upload("POST", "/images/load", p[0], "application/x-tar", [&](std::string_view s) { reply.append(s); });
  ::close(p[0]);
  EXPECT_EQ(reply, "{\"status\":\"done\"}");
  EXPECT_EQ(body, "9\r\ntar bytes\r\n0\r\n\r\n");
}

TEST(ApiClient, UnreachableDaemon) {
  ApiClient api("unix:///nonexistent/berth.sock");
  try {
    api.get("/_ping");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "Cannot connect to the Docker daemon at unix:///nonexistent/berth.sock. Is the docker daemon running?");
  }
}

}  // namespace
}  // namespace berth::cli
