#include "registry/http_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <thread>

#include "base/error.h"

namespace berth::registry {
namespace {

// A one-connection-at-a-time HTTP/1.0 server on 127.0.0.1 answering from a
// function of the request head; it records each head it saw.
class TinyServer {
 public:
  explicit TinyServer(std::function<std::string(const std::string& head)> answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      fail_errno("listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<std::string> heads() {
    std::lock_guard lock(mu_);
    return heads_;
  }

 private:
  void serve() {
    while (true) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        heads_.push_back(head);
      }
      std::string reply = answer_(head);
      (void)!::write(c, reply.data(), reply.size());
      ::close(c);
    }
  }
  std::function<std::string(const std::string&)> answer_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> heads_;
};

std::string response(int status, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.0 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + extra + "\r\n" + body;
}

TEST(HttpClient, RedirectToAnotherHostDropsTheAuthorizationHeader) {
  TinyServer storage([](const std::string&) { return response(200, "blob bytes"); });
  TinyServer registry([&](const std::string&) {
    return response(307, "", "Location: " + storage.url("/signed/blob?sig=1") + "\r\n");
  });
  HttpClient http;
  std::string got;
  HttpRequest req{.url = registry.url("/v2/x/blobs/sha256:00"), .headers = {"Authorization: Bearer secret"}};
  HttpResponse res = http.send(req, [&](std::string_view d) { got.append(d); });
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(got, "blob bytes");
  EXPECT_EQ(res.effective_url, storage.url("/signed/blob?sig=1"));
  ASSERT_EQ(registry.heads().size(), 1u);
  EXPECT_NE(registry.heads()[0].find("Authorization: Bearer secret"), std::string::npos);
  ASSERT_EQ(storage.heads().size(), 1u);
  EXPECT_EQ(storage.heads()[0].find("Authorization"), std::string::npos) << storage.heads()[0];
}

TEST(HttpClient, ErrorBodiesAreKeptAndSuccessBodiesGoToTheSink) {
  TinyServer s([](const std::string& head) {
    if (head.starts_with("GET /missing")) return response(404, R"({"errors":[{"code":"BLOB_UNKNOWN"}]})");
    return response(200, "payload", "Docker-Content-Digest: sha256:ab\r\n");
  });
  HttpClient http;
  std::string sunk;
  HttpResponse miss = http.send(HttpRequest{.url = s.url("/missing")}, [&](std::string_view d) { sunk.append(d); });
  EXPECT_EQ(miss.status, 404);
  EXPECT_EQ(miss.body, R"({"errors":[{"code":"BLOB_UNKNOWN"}]})");
  EXPECT_EQ(sunk, "");
  HttpResponse hit = http.send(HttpRequest{.url = s.url("/ok")}, [&](std::string_view d) { sunk.append(d); });
  EXPECT_TRUE(hit.ok());
  EXPECT_EQ(sunk, "payload");
  EXPECT_EQ(hit.body, "");
  EXPECT_EQ(hit.header("docker-content-digest"), "sha256:ab");
}

TEST(HttpClient, TruncatedTransferAndRefusedConnectionThrowWithTheUrl) {
  TinyServer s([](const std::string&) { return std::string("HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nshort"); });
  HttpClient http;
  try {
    http.send(HttpRequest{.url = s.url("/blob")}, [](std::string_view) {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GET " + s.url("/blob") + ": "), std::string::npos) << e.what();
  }
  EXPECT_THROW(http.send(HttpRequest{.url = "http://127.0.0.1:1/v2/"}), Error);
}

TEST(HttpClient, UrlHelpers) {
  EXPECT_EQ(url_query_escape("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
  EXPECT_EQ(resolve_url("http://h:5000/v2/x/blobs/uploads/", "/v2/x/blobs/uploads/uuid?_state=1"),
            "http://h:5000/v2/x/blobs/uploads/uuid?_state=1");
  EXPECT_EQ(resolve_url("http://h/v2/a/b?q=1", "c"), "http://h/v2/a/c");
  EXPECT_EQ(resolve_url("http://h/v2/", "https://other/x"), "https://other/x");
}

}  // namespace
}  // namespace berth::registry
