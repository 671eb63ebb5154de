#include "api/stream_pump.h"
#include "api/filters.h"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::api {
namespace {

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fail_errno("socketpair");
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

TEST(DockerFrame, HeaderIsStreamThenBigEndianSize) {
  EXPECT_EQ(docker_frame(2, "hi"), std::string("\x02\0\0\0\0\0\0\x02hi", 10));
  EXPECT_EQ(docker_frame(1, std::string(258, 'x')).substr(0, 8), std::string("\x01\0\0\0\0\0\x01\x02", 8));
}

TEST(DetachKeys, ParsesDockersSyntax) {
  EXPECT_EQ(parse_detach_keys(""), std::string("\x10\x11"));
  EXPECT_EQ(parse_detach_keys("ctrl-a,x"), std::string("\x01x"));
  EXPECT_THROW(parse_detach_keys("ctrl-"), Error);
  EXPECT_THROW(parse_detach_keys("abc"), Error);
}

TEST(PumpAttach, FiltersStreamsAndSurvivesClientHalfClose) {
  Pair client, shim;
  // The shim writes frames split at awkward places, then closes.
  std::string frames = docker_frame(1, "out\n") + docker_frame(2, "err\n") + docker_frame(1, "more\n");
  std::thread shim_side([&] {
    ::write(shim.b.get(), frames.data(), 5);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::write(shim.b.get(), frames.data() + 5, frames.size() - 5);
    shim.b.reset();
  });
  ::shutdown(client.b.get(), SHUT_WR);  // the docker CLI without stdin
  AttachStreams s;
  s.stderr = false;
  pump_attach(client.a.get(), "", shim.a.get(), s);
  shim_side.join();
  client.a.reset();
  EXPECT_EQ(read_all(client.b.get()), docker_frame(1, "out\n") + docker_frame(1, "more\n"));
}

TEST(PumpAttach, StdinIsForwardedUntilTheDetachSequence) {
  Pair client, shim;
  AttachStreams s;
  s.stdin = true;
  s.tty = true;
  s.detach_keys = parse_detach_keys("");
  std::string typed = std::string("ls\n\x10") + "x" + "\x10\x11" + "never";
  ::write(client.b.get(), typed.data(), typed.size());
  pump_attach(client.a.get(), "", shim.a.get(), s);  // returns on the detach keys
  shim.a.reset();
  EXPECT_EQ(read_all(shim.b.get()), std::string("ls\n\x10x"));
}

TEST(PumpExec, FramesPipesAndClosesStdinOnClientEof) {
  Pair client;
  int in[2], out[2], err[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  ASSERT_EQ(::pipe(err), 0);
  // A "process": echoes stdin to stdout until EOF, then writes to stderr.
  std::thread proc([&] {
    std::string got = read_all(in[0]);
    ::close(in[0]);
    ::write(out[1], got.data(), got.size());
    ::close(out[1]);
    ::write(err[1], "bye\n", 4);
    ::close(err[1]);
  });
  ::write(client.b.get(), "hello\n", 6);
  ::shutdown(client.b.get(), SHUT_WR);
  AttachStreams s;
  s.stdin = true;
  pump_exec(client.a.get(), "", -1, in[1], out[0], err[0], s);
  proc.join();
  client.a.reset();
  ::close(out[0]);
  ::close(err[0]);
  EXPECT_EQ(read_all(client.b.get()), docker_frame(1, "hello\n") + docker_frame(2, "bye\n"));
}

}  // namespace
}  // namespace berth::api
