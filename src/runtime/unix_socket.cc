#include "runtime/unix_socket.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "base/error.h"

namespace berth::runtime {

UniqueFd connect_unix(const std::string& path) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.empty()) fail("connect: empty socket path");
  if (path.size() >= sizeof addr.sun_path) fail("connect: path longer than {} bytes", sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) fail_errno("socket");
  int rc;
  do {
    rc = ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) fail_errno("connect");
  return s;
}

void send_fd(int sock, int fd, const std::string& payload) {
  std::string data = payload.empty() ? std::string(1, '\0') : payload;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  size_t sent = 0;
  while (sent < data.size()) {
    struct iovec iov = {data.data() + sent, data.size() - sent};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (sent == 0) {  // the descriptor rides with the first bytes only
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    // MSG_NOSIGNAL: a peer that hung up is an error, not a SIGPIPE.
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("send file descriptor");
    sent += static_cast<size_t>(n);
  }
}

UniqueFd recv_fd(int sock) {
  char data[4096];
  struct iovec iov = {data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno != EINTR) fail_errno("receive file descriptor");
  }
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (n == 0 || !c || c->cmsg_type != SCM_RIGHTS) fail("receive file descriptor: none sent");
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return UniqueFd(fd);
}

}  // namespace berth::runtime
