// A real registry for the registry client's tests: Debian's docker-registry
// (distribution 2.8) on 127.0.0.1 with filesystem storage in a temp dir,
// optionally behind htpasswd Basic auth. Header-only; tests only.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "base/error.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/test_util.h"
#include "registry/http_client.h"

namespace berth::registry::testing {

// A port the kernel just handed out (released again: a small race, fine for tests).
inline int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    fail_errno("bind a free port");
  int port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

class TestRegistry {
 public:
  // user/password: require Basic auth with these credentials.
  explicit TestRegistry(const std::string& user = "", const std::string& password = "") {
    port_ = free_port();
    std::string auth;
    if (!user.empty()) {
      write_file(dir_ / "htpasswd", run_capture({"htpasswd", "-Bbn", user, password}));
      auth = "auth:\n  htpasswd:\n    realm: test\n    path: " + (dir_ / "htpasswd") + "\n";
    }
    write_file(dir_ / "config.yml",
               "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
               "storage:\n  filesystem:\n    rootdirectory: " + (dir_ / "data") +
               "\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n" + auth);
    int log = ::open((dir_ / "registry.log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    pid_ = spawn_process({"docker-registry", "serve", dir_ / "config.yml"}, {-1, log, log}, true);
    ::close(log);
    HttpClient http;
    for (int i = 0; i < 200; ++i) {
      try {
        if (http.send(HttpRequest{.url = url() + "/v2/"}).status > 0) return;
      } catch (const Error&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    fail("docker-registry did not start: {}", read_file(dir_ / "registry.log"));
  }
  ~TestRegistry() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host(); }
  // Where the registry keeps a blob's bytes (to corrupt it in tests).
  std::string blob_data_path(const std::string& hex) const {
    return dir_ / ("data/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data");
  }

 private:
  berth::test::TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace berth::registry::testing
