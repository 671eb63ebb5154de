#include "hub/names.h"

#include <string>

#include <gtest/gtest.h>

#include "base/strings.h"

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

// "<repo> | <route>" as matched with a few of the API's shapes, or "none".
std::string route(std::string_view path) {
  auto r = match_repository_route(path, {{"tags"}, {"teams", "*"}, {"star"}, {}});
  return r ? r->repo + " | " + join(r->sub, "/") : "none";
}

TEST(RepositoryRoute, ShortFormMatchesWholeTrailingComponents) {
  EXPECT_EQ(route("alice/app/tags"), "alice/app | tags");
  EXPECT_EQ(route("org/app/teams/dev"), "org/app | teams/dev");
  // A route word as a prefix of the last component is part of the name.
  for (std::string whole : {"alice/startup", "alice/tagsync", "alice/stars", "a/b/c"}) {
    EXPECT_EQ(route(whole), whole + " | ");
  }
}

TEST(RepositoryRoute, DashFormReachesRepositoriesNamedLikeRoutes) {
  EXPECT_EQ(route("alice/tags/-"), "alice/tags | ");
  EXPECT_EQ(route("alice/tags/-/tags"), "alice/tags | tags");
  EXPECT_EQ(route("alice/star/-/star"), "alice/star | star");
  EXPECT_EQ(route("alice/tags"), "alice | tags") << "without the dash the route word wins";
}

TEST(RepositoryRoute, RefusesWhatNoShapeFits) {
  EXPECT_EQ(route("alice/app/-/tags/extra"), "none");
  EXPECT_EQ(route("alice/app/-/unknown"), "none");
  EXPECT_EQ(route("alice/app/-/teams"), "none");
  EXPECT_FALSE(match_repository_route("tags", {{"tags"}})) << "a route alone names no repository";
  EXPECT_FALSE(match_repository_route("alice/app", {{"tags"}}));
}

}  // namespace
}  // namespace berth::hub
