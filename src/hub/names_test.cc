#include "hub/names.h"

#include <optional>
#include <string>
#include <vector>

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

using Sub = std::vector<std::string>;

std::optional<RepositoryRoute> route(std::string_view path) {
  return match_repository_route(path, {{"tags"}, {"teams", "*"}, {"star"}, {}});
}

TEST(RepositoryRoute, ShortFormMatchesWholeTrailingComponents) {
  auto r = route("alice/app/tags");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "alice/app");
  EXPECT_EQ(r->sub, Sub{"tags"});
  r = route("org/app/teams/dev");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "org/app");
  EXPECT_EQ(r->sub, (Sub{"teams", "dev"}));
  // A route word as a prefix of the last component is part of the name.
  for (const char* whole : {"alice/startup", "alice/tagsync", "alice/stars", "a/b/c"}) {
    r = route(whole);
    ASSERT_TRUE(r) << whole;
    EXPECT_EQ(r->repo, whole);
    EXPECT_TRUE(r->sub.empty()) << whole;
  }
}

TEST(RepositoryRoute, DashFormReachesRepositoriesNamedLikeRoutes) {
  auto r = route("alice/tags/-");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "alice/tags");
  EXPECT_TRUE(r->sub.empty());
  r = route("alice/tags/-/tags");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "alice/tags");
  EXPECT_EQ(r->sub, Sub{"tags"});
  r = route("alice/star/-/star");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "alice/star");
  EXPECT_EQ(r->sub, Sub{"star"});
  // Without the dash the route word wins.
  r = route("alice/tags");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "alice");
}

TEST(RepositoryRoute, RefusesWhatNoShapeFits) {
  EXPECT_FALSE(route("alice/app/-/tags/extra"));
  EXPECT_FALSE(route("alice/app/-/unknown"));
  EXPECT_FALSE(route("alice/app/-/teams"));
  EXPECT_FALSE(match_repository_route("tags", {{"tags"}})) << "a route alone names no repository";
  EXPECT_FALSE(match_repository_route("alice/app", {{"tags"}}));
}

}  // namespace
}  // namespace berth::hub
