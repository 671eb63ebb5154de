#include "shim/frame.h"

#include <gtest/gtest.h>

#include "shim/spawn.h"

namespace berth::shim {
namespace {

TEST(Frame, EncodesDockerHeader) {
  std::string out;
  append_frame(&out, Stream::kStderr, "hi");
  EXPECT_EQ(out, std::string("\x02\x00\x00\x00\x00\x00\x00\x02hi", 10));
  out.clear();
  append_frame(&out, Stream::kStdout, std::string(0x01020304 & 0xFFFF, 'z'));
  EXPECT_EQ(out.substr(0, 8), std::string("\x01\x00\x00\x00\x00\x00\x03\x04", 8));
}

TEST(Frame, ParsesHeader) {
  std::string out;
  append_frame(&out, Stream::kStdout, std::string(300, 'a'));
  Stream s;
  uint32_t n;
  ASSERT_TRUE(parse_frame_header(out, &s, &n));
  EXPECT_EQ(s, Stream::kStdout);
  EXPECT_EQ(n, 300u);
  EXPECT_FALSE(parse_frame_header(std::string("\x01\x01\x00\x00\x00\x00\x00\x01", 8), &s, &n));
  EXPECT_FALSE(parse_frame_header("short", &s, &n));
}

TEST(RuntimeArgv, GlobalFlagsPrecedeVerb) {
  ShimOptions o;
  o.runtime = "/bin/rt";
  o.runtime_root = "/run/rt";
  o.runtime_args = {"--systemd-cgroup"};
  EXPECT_EQ(runtime_argv(o, {"start", "c1"}),
            (std::vector<std::string>{"/bin/rt", "--root", "/run/rt", "--systemd-cgroup", "start", "c1"}));
}

}  // namespace
}  // namespace berth::shim
