#include "runtime/sync.h"

#include <sys/socket.h>

#include "base/error.h"

namespace berth::runtime {

std::pair<SyncPipe, SyncPipe> SyncPipe::make() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) fail_errno("socketpair");
  return {SyncPipe(UniqueFd(sv[0])), SyncPipe(UniqueFd(sv[1]))};
}

void SyncPipe::send(const std::string& msg) const {
  while (::send(fd_.get(), msg.data(), msg.size(), MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) fail_errno("sync send {:?}", msg);
  }
}

std::string SyncPipe::receive(const std::string& what) const {
  char buf[8192];
  ssize_t n;
  while ((n = ::recv(fd_.get(), buf, sizeof buf, 0)) < 0) {
    if (errno != EINTR) fail_errno("sync receive while {}", what);
  }
  if (n == 0) fail("container process exited while {}", what);
  std::string msg(buf, static_cast<size_t>(n));
  if (msg.rfind("error:", 0) == 0) throw Error(msg.substr(6));
  return msg;
}

void SyncPipe::expect(const std::string& expected, const std::string& what) const {
  std::string got = receive(what);
  if (got != expected) fail("protocol error while {}: got {:?}, want {:?}", what, got, expected);
}

void SyncPipe::send_error(const std::string& msg) const noexcept {
  std::string m = "error:" + msg;
  if (m.size() > 8000) m.resize(8000);
  ssize_t ignored = ::send(fd_.get(), m.data(), m.size(), MSG_NOSIGNAL);
  (void)ignored;
}

}  // namespace berth::runtime
