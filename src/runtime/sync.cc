#include "runtime/sync.h"

#include <sys/socket.h>

#include <cstring>

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

UniqueFd SyncPipe::receive_fd(const std::string& what) const {
  char buf[8192];
  struct iovec iov = {buf, sizeof buf};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno != EINTR) fail_errno("sync receive while {}", what);
  }
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int fd;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return UniqueFd(fd);
  }
  if (n == 0) fail("container process exited while {}", what);
  std::string text(buf, static_cast<size_t>(n));
  if (text.rfind("error:", 0) == 0) throw Error(text.substr(6));
  fail("protocol error while {}: got {:?}, want a file descriptor", what, text);
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
