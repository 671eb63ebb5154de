#include "cli/stream.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::cli {
namespace {

TEST(FrameDemuxer, SplitsStreamsWhateverTheCuts) {
  std::string wire = make_frame(1, "hello ") + make_frame(2, "oops\n") + make_frame(1, "world\n") + make_frame(1, "");
  for (size_t step = 1; step <= wire.size(); ++step) {
    std::string out, err;
    FrameDemuxer d([&](int s, std::string_view p) { (s == 1 ? out : err).append(p); });
    for (size_t i = 0; i < wire.size(); i += step) d.feed(std::string_view(wire).substr(i, step));
    EXPECT_EQ(out, "hello world\n") << step;
    EXPECT_EQ(err, "oops\n") << step;
    EXPECT_TRUE(d.at_boundary());
  }
}

TEST(FrameDemuxer, LargeFrameHeaderBigEndian) {
  std::string payload(70000, 'x');
  std::string f = make_frame(2, payload);
  EXPECT_EQ(static_cast<unsigned char>(f[5]), 0x01);
  EXPECT_EQ(static_cast<unsigned char>(f[6]), 0x11);
  EXPECT_EQ(static_cast<unsigned char>(f[7]), 0x70);
  size_t got = 0;
  FrameDemuxer d([&](int s, std::string_view p) {
    EXPECT_EQ(s, 2);
    got += p.size();
  });
  d.feed(f.substr(0, 100));
  EXPECT_FALSE(d.at_boundary());
  d.feed(f.substr(100));
  EXPECT_EQ(got, payload.size());
}

TEST(FrameDemuxer, RejectsGarbage) {
  FrameDemuxer d([](int, std::string_view) {});
  EXPECT_THROW(d.feed("hello world, not a frame"), Error);
}

TEST(JsonLineSplitter, MessagesAcrossChunks) {
  std::vector<nlohmann::json> got;
  JsonLineSplitter s([&](const nlohmann::json& j) { got.push_back(j); });
  s.feed("{\"status\":\"a\"}\n{\"sta");
  s.feed("tus\":\"b\"}\r\n\n{\"x\":1}");
  s.finish();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1]["status"], "b");
  EXPECT_EQ(got[2]["x"], 1);
}

}  // namespace
}  // namespace berth::cli
