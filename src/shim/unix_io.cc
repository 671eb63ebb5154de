#include "shim/unix_io.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"

namespace berth::shim {

UniqueFd listen_unix(const std::string& path) {
  struct sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) fail("socket path {} is too long", path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) fail_errno("socket");
  ::unlink(path.c_str());
  if (::bind(s.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) fail_errno("bind {}", path);
  if (::listen(s.get(), 64) != 0) fail_errno("listen {}", path);
  return s;
}

UniqueFd recv_fd(int sock) {
  char data[256];
  struct iovec iov{data, sizeof data};
  alignas(struct cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
  struct msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail_errno("receive console fd");
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return UniqueFd(fd);
    }
  }
  fail("receive console fd: no descriptor attached");
}

void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) fail_errno("set O_NONBLOCK");
}

}  // namespace berth::shim
