#include "shim/line_splitter.h"

#include <gtest/gtest.h>

#include <vector>

namespace berth::shim {
namespace {

struct Collect {
  std::vector<std::string> got;
  LineSplitter::Emit fn() {
    return [this](std::string_view c) { got.emplace_back(c); };
  }
};

TEST(LineSplitter, SplitsLinesAcrossReads) {
  LineSplitter s;
  Collect c;
  s.feed("a\nbb", c.fn());
  s.feed("b\n\nc", c.fn());
  EXPECT_EQ(c.got, (std::vector<std::string>{"a\n", "bbb\n", "\n"}));
  s.finish(c.fn());
  EXPECT_EQ(c.got.back(), "c");
  s.finish(c.fn());
  EXPECT_EQ(c.got.size(), 4u);
}

TEST(LineSplitter, FlushesPartialsAt16KiB) {
  LineSplitter s;
  Collect c;
  std::string big(LineSplitter::kMaxChunk * 2 + 10, 'x');
  s.feed(big.substr(0, 100), c.fn());
  s.feed(big.substr(100) + "\nok\n", c.fn());
  ASSERT_EQ(c.got.size(), 4u);
  EXPECT_EQ(c.got[0], std::string(LineSplitter::kMaxChunk, 'x'));
  EXPECT_EQ(c.got[1], std::string(LineSplitter::kMaxChunk, 'x'));
  EXPECT_EQ(c.got[2], std::string(10, 'x') + "\n");
  EXPECT_EQ(c.got[3], "ok\n");
}

TEST(LineSplitter, LineOfExactlyBufferSizeIsPartial) {
  // Docker's copier fills its 16 KiB buffer before it sees the newline.
  LineSplitter s;
  Collect c;
  s.feed(std::string(LineSplitter::kMaxChunk, 'y') + "\n", c.fn());
  ASSERT_EQ(c.got.size(), 2u);
  EXPECT_EQ(c.got[0].size(), LineSplitter::kMaxChunk);
  EXPECT_EQ(c.got[1], "\n");
}

}  // namespace
}  // namespace berth::shim
