#include "runtime/sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <functional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "runtime/unix_socket.h"
#include "base/test_util.h"

namespace berth::runtime {
namespace {

using ::testing::HasSubstr;

using berth::test::error_of;

TEST(SyncPipe, SendReceiveKeepsMessageBoundaries) {
  auto [parent, child] = SyncPipe::make();
  child.send("ready");
  child.send("second message");
  EXPECT_EQ(parent.receive("waiting"), "ready");
  EXPECT_EQ(parent.receive("waiting"), "second message");
  parent.send("go");
  EXPECT_EQ(child.receive("waiting for go"), "go");
}

TEST(SyncPipe, BothEndsCloseOnExec) {
  auto [a, b] = SyncPipe::make();
  EXPECT_TRUE(::fcntl(a.fd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(b.fd(), F_GETFD) & FD_CLOEXEC);
}

TEST(SyncPipe, Expect) {
  auto [parent, child] = SyncPipe::make();
  child.send("mounted");
  EXPECT_NO_THROW(parent.expect("mounted", "setting up mounts"));
  child.send("other");
  EXPECT_EQ(error_of([&] { parent.expect("mounted", "setting up mounts"); }),
            "protocol error while setting up mounts: got \"other\", want \"mounted\"");
}

TEST(SyncPipe, ErrorMessageBecomesError) {
  auto [parent, child] = SyncPipe::make();
  child.send_error("mount proc on /proc: permission denied");
  EXPECT_EQ(error_of([&] { parent.receive("setting up"); }), "mount proc on /proc: permission denied");
  child.send("error:via send");
  EXPECT_EQ(error_of([&] { parent.expect("ok", "x"); }), "via send");
}

TEST(SyncPipe, LongErrorIsTruncatedNotLost) {
  auto [parent, child] = SyncPipe::make();
  child.send_error(std::string(20000, 'e'));
  std::string err = error_of([&] { parent.receive("x"); });
  EXPECT_GT(err.size(), 1000u);
  EXPECT_LE(err.size(), 8192u);
}

TEST(SyncPipe, EofNamesWhatWasAwaited) {
  auto [parent, child] = SyncPipe::make();
  child.close();
  EXPECT_EQ(error_of([&] { parent.receive("waiting for the container to start"); }),
            "container process exited while waiting for the container to start");
  EXPECT_THAT(error_of([&] { parent.receive_fd("receiving the pty"); }), HasSubstr("exited while receiving the pty"));
}

TEST(SyncPipe, SendToClosedPeerIsAnErrorNotSigpipe) {
  auto [parent, child] = SyncPipe::make();
  child.close();
  EXPECT_THAT(error_of([&] { parent.send("hello"); }), HasSubstr("sync send"));
  parent.send_error("never throws");  // best effort
}

TEST(SyncPipe, ReceiveFd) {
  auto [parent, child] = SyncPipe::make();
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  send_fd(child.fd(), p[1], "pty");
  UniqueFd got = parent.receive_fd("receiving the pty");
  ASSERT_TRUE(got.valid());
  EXPECT_TRUE(::fcntl(got.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(::write(got.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(p[0], &c, 1), 1);
  EXPECT_EQ(c, 'x');
  ::close(p[0]);
  ::close(p[1]);

  child.send_error("no terminal");
  EXPECT_EQ(error_of([&] { parent.receive_fd("receiving the pty"); }), "no terminal");
  child.send("plain");
  EXPECT_THAT(error_of([&] { parent.receive_fd("receiving the pty"); }),
              HasSubstr("protocol error while receiving the pty"));
}

}  // namespace
}  // namespace berth::runtime
