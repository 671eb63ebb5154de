#include "shim/log_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "base/fs.h"

namespace berth::shim {
namespace {

TEST(Rotation, RenamesOldestFirst) {
  using V = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(rotation_renames("/l", 1), V{});
  EXPECT_EQ(rotation_renames("/l", 2), (V{{"/l", "/l.1"}}));
  EXPECT_EQ(rotation_renames("/l", 4), (V{{"/l.2", "/l.3"}, {"/l.1", "/l.2"}, {"/l", "/l.1"}}));
}

class RotatingLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-shim-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/c.log";
  }
  void TearDown() override { remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(RotatingLogTest, RotatesOnceFullKeepingMaxFiles) {
  RotatingLog log(path_, 10, 3);
  for (const char* r : {"aaaaaa\n", "bbbbbb\n", "cccccc\n", "dddddd\n", "eeeeee\n"}) log.append(r);
  // Rotation happens before a write once the file holds >= 10 bytes.
  EXPECT_EQ(read_file(path_), "eeeeee\n");
  EXPECT_EQ(read_file(path_ + ".1"), "cccccc\ndddddd\n");
  EXPECT_EQ(read_file(path_ + ".2"), "aaaaaa\nbbbbbb\n");
  EXPECT_FALSE(path_exists(path_ + ".3"));
  EXPECT_EQ(log.rotations(), 2);
}

TEST_F(RotatingLogTest, SingleFileIsTruncated) {
  RotatingLog log(path_, 4, 1);
  log.append("12345\n");
  log.append("x\n");
  EXPECT_EQ(read_file(path_), "x\n");
  EXPECT_FALSE(path_exists(path_ + ".1"));
}

TEST_F(RotatingLogTest, ZeroMaxSizeNeverRotatesAndAppends) {
  write_file(path_, "old\n");
  RotatingLog log(path_, 0, 5);
  for (int i = 0; i < 100; ++i) log.append("line\n");
  EXPECT_EQ(read_file(path_).size(), 4u + 500u);
  EXPECT_FALSE(path_exists(path_ + ".1"));
}

}  // namespace
}  // namespace berth::shim
