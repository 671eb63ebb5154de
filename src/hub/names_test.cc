#include "hub/names.h"

#include <string>

#include <gtest/gtest.h>

namespace berth::hub {
namespace {

TEST(RepositoryName, AcceptsWhatDistributionAccepts) {
  for (const char* n : {"busybox", "library/busybox", "a/b/c", "my-app", "my--app", "a.b", "a_b", "a__b", "x0/y1"}) {
    EXPECT_TRUE(is_valid_repository_name(n)) << n;
  }
  EXPECT_TRUE(is_valid_repository_name(std::string(255, 'a')));
}

TEST(RepositoryName, RejectsWhatDistributionRejects) {
  for (const char* n : {"", "Upper", "a//b", "/a", "a/", "-a", "a-", "a___b", "a..b", "a._b", "a b", "../x", "a/.."}) {
    EXPECT_FALSE(is_valid_repository_name(n)) << n;
  }
  EXPECT_FALSE(is_valid_repository_name(std::string(256, 'a')));
}

TEST(Tag, FollowsTheSpecGrammar) {
  for (const char* t : {"latest", "1.0", "v1_2-rc.3", "_x", "A"}) EXPECT_TRUE(is_valid_tag(t)) << t;
  for (const char* t : {"", ".x", "-x", "a/b", "a:b", "sha256:abc"}) EXPECT_FALSE(is_valid_tag(t)) << t;
  EXPECT_TRUE(is_valid_tag(std::string(128, 'a')));
  EXPECT_FALSE(is_valid_tag(std::string(129, 'a')));
}

}  // namespace
}  // namespace berth::hub
