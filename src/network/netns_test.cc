#include "network/netns.h"

#include <sys/stat.h>

#include <algorithm>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/test_util.h"

namespace berth::network {
namespace {

using ::testing::HasSubstr;

// The inode of the network namespace the calling thread is in.
ino_t current_netns() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) fail_errno("stat /proc/thread-self/ns/net");
  return st.st_ino;
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_errno("stat {}", path);
  return st.st_ino;
}

class Netns : public ::testing::Test {
 protected:
  void TearDown() override { remove_netns(ns_); }
  test::TempDir dir_;
  std::string ns_ = dir_ / "ns";
};

TEST_F(Netns, CreatePinsANewNamespaceWithoutMovingTheCaller) {
  ino_t before = current_netns();
  create_netns(ns_);
  EXPECT_EQ(current_netns(), before);
  EXPECT_TRUE(is_netns(ns_));
  EXPECT_NE(inode_of(ns_), before);
}

TEST_F(Netns, LoopbackIsUpInside) {
  create_netns(ns_);
  std::string out;
  run_in_netns(ns_, [&] { out = run_capture({"ip", "-j", "link", "show", "lo"}); });
  auto flags = nlohmann::json::parse(out).at(0).at("flags");
  EXPECT_NE(std::find(flags.begin(), flags.end(), "UP"), flags.end()) << out;
}

TEST_F(Netns, CreatingTwiceFailsAndKeepsTheFirst) {
  create_netns(ns_);
  ino_t first = inode_of(ns_);
  std::string err = test::error_of([&] { create_netns(ns_); });
  EXPECT_THAT(err, HasSubstr("create netns " + ns_));
  EXPECT_THAT(err, HasSubstr("already exists"));
  EXPECT_TRUE(is_netns(ns_));
  EXPECT_EQ(inode_of(ns_), first);
}

TEST_F(Netns, CreateInMissingDirectoryFailsNamingThePath) {
  std::string path = dir_ / "missing/ns";
  EXPECT_THAT(test::error_of([&] { create_netns(path); }), HasSubstr("create netns " + path));
  EXPECT_FALSE(path_exists(path));
}

TEST_F(Netns, RemoveUnpinsAndUnlinksAndMayRepeat) {
  create_netns(ns_);
  remove_netns(ns_);
  EXPECT_FALSE(is_netns(ns_));
  EXPECT_FALSE(path_exists(ns_));
  remove_netns(ns_);  // missing: not an error
}

TEST_F(Netns, IsNetnsRejectsPlainFilesAndOtherNamespaces) {
  EXPECT_FALSE(is_netns(ns_));
  write_file(ns_, "");
  EXPECT_FALSE(is_netns(ns_));
  EXPECT_FALSE(is_netns("/proc/self/ns/uts"));
  EXPECT_TRUE(is_netns("/proc/self/ns/net"));
}

TEST_F(Netns, CreateReusesALeftoverPlainFile) {
  write_file(ns_, "");  // as a crash between create and mount leaves it
  create_netns(ns_);
  EXPECT_TRUE(is_netns(ns_));
}

TEST_F(Netns, RunInNetnsRunsInsideOnAnotherThread) {
  create_netns(ns_);
  ino_t caller = current_netns();
  ino_t inside = 0;
  run_in_netns(ns_, [&] { inside = current_netns(); });
  EXPECT_EQ(inside, inode_of(ns_));
  EXPECT_EQ(current_netns(), caller);
}

TEST_F(Netns, RunInNetnsRethrowsTheFunctionsError) {
  create_netns(ns_);
  EXPECT_EQ(test::error_of([&] { run_in_netns(ns_, [] { fail("boom inside"); }); }), "boom inside");
}

TEST_F(Netns, RunInNetnsOfMissingOrWrongPathFailsNamingIt) {
  EXPECT_THAT(test::error_of([&] { run_in_netns(ns_, [] {}); }), HasSubstr("open netns " + ns_));
  write_file(ns_, "");
  EXPECT_THAT(test::error_of([&] { run_in_netns(ns_, [] {}); }), HasSubstr("join netns " + ns_));
}

}  // namespace
}  // namespace berth::network
