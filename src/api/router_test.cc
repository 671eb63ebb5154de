#include "api/router.h"
#include "api/filters.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

TEST(VersionPrefix, SplitsAndRejects) {
  std::string v, rest;
  ASSERT_TRUE(split_version_prefix("/v1.41/containers/json", &v, &rest));
  EXPECT_EQ(v, "1.41");
  EXPECT_EQ(rest, "/containers/json");
  ASSERT_TRUE(split_version_prefix("/v1.24", &v, &rest));
  EXPECT_EQ(v, "1.24");
  EXPECT_EQ(rest, "/");
  EXPECT_FALSE(split_version_prefix("/version", &v, &rest));
  EXPECT_FALSE(split_version_prefix("/v1/x", &v, &rest));
  EXPECT_FALSE(split_version_prefix("/v1.4a/x", &v, &rest));
  EXPECT_FALSE(split_version_prefix("/volumes", &v, &rest));
  EXPECT_FALSE(split_version_prefix("/v.41/x", &v, &rest));
}

TEST(VersionPrefix, Compare) {
  EXPECT_EQ(compare_versions("1.41", "1.41"), 0);
  EXPECT_LT(compare_versions("1.9", "1.12"), 0);
  EXPECT_GT(compare_versions("1.50", "1.41"), 0);
  EXPECT_GT(compare_versions("2.0", "1.99"), 0);
}

Handler tag(std::string* out, std::string name) {
  return [out, name](Request&, Response&) { *out = name; };
}

TEST(RouterMatch, ParamsAndLiterals) {
  std::string hit;
  Router r;
  r.add("GET", "/containers/json", tag(&hit, "list"));
  r.add("GET", "/containers/{id}/json", tag(&hit, "inspect"));
  r.add("POST", "/containers/{id}/start", tag(&hit, "start"));
  r.add("POST", "/containers/prune", tag(&hit, "prune"));
  r.add("POST", "/containers/{id}", tag(&hit, "bogus"));

  auto m = r.match("GET", "/containers/abc123/json");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.at("id"), "abc123");
  m = r.match("GET", "/containers/json");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_TRUE(m.params.empty());
  EXPECT_EQ(r.match("GET", "/containers/abc/start").handler, nullptr);  // wrong method
  EXPECT_EQ(r.match("POST", "/containers/abc/start/x").handler, nullptr);
  EXPECT_EQ(r.match("GET", "/nothing").handler, nullptr);

  m = r.match("POST", "/containers/prune");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_TRUE(m.params.empty());  // the literal route won over "/containers/{id}"
}

TEST(RouterMatch, RestParamTakesSlashes) {
  Router r;
  std::string hit;
  r.add("GET", "/images/json", tag(&hit, "list"));
  r.add("GET", "/images/{name:.*}/json", tag(&hit, "inspect"));
  r.add("DELETE", "/images/{name:.*}", tag(&hit, "delete"));
  r.add("POST", "/images/{name:.*}/tag", tag(&hit, "tag"));

  auto m = r.match("GET", "/images/localhost:5000/library/busybox:1.36/json");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.at("name"), "localhost:5000/library/busybox:1.36");
  m = r.match("GET", "/images/json");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_TRUE(m.params.empty());
  m = r.match("GET", "/images/a/json/json");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.at("name"), "a/json");
  m = r.match("DELETE", "/images/docker.io/library/alpine");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.at("name"), "docker.io/library/alpine");
  EXPECT_EQ(r.match("POST", "/images/tag").handler, nullptr);
}

TEST(Query, DecodesAndRepeats) {
  Query q = Query::parse("all=1&name=a%2Fb+c&t=x&t=y&empty=&flag");
  EXPECT_EQ(q.get("name"), "a/b c");
  EXPECT_EQ(q.get_all("t"), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(q.has("empty"));
  EXPECT_TRUE(q.has("flag"));
  EXPECT_FALSE(q.has("nope"));
  EXPECT_EQ(q.get("nope", "def"), "def");
  EXPECT_TRUE(q.get_bool("all"));
  EXPECT_FALSE(q.get_bool("empty"));
  EXPECT_FALSE(q.get_bool("nope"));
  EXPECT_EQ(q.get_int("all", 7), 1);
  EXPECT_EQ(q.get_int("nope", 7), 7);
  EXPECT_THROW(q.get_int("name", 0), ApiError);
}

TEST(Query, BoolFollowsDockerd) {
  for (const char* f : {"0", "no", "false", "FALSE", "none", ""}) {
    EXPECT_FALSE(Query::parse(std::string("b=") + f).get_bool("b")) << f;
  }
  for (const char* t : {"1", "true", "yes", "True", "anything"}) {
    EXPECT_TRUE(Query::parse(std::string("b=") + t).get_bool("b")) << t;
  }
}

TEST(Query, BadEscapeIs400) {
  try {
    Query::parse("a=%zz");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
  }
  EXPECT_THROW(url_decode("abc%4", false), ApiError);
  EXPECT_EQ(url_decode("a+b%20c", false), "a+b c");
}

TEST(Filters, BothEncodings) {
  // {"label":{"com.docker.compose.project=x":true},"status":{"exited":true}}, as the CLI sends it.
  Query q = Query::parse(
      "filters=%7B%22label%22%3A%7B%22com.docker.compose.project%3Dx%22%3Atrue%7D%2C%22status%22%3A%7B%22exited%22%3Atrue%7D%7D");
  Filters f = query_filters(q);
  EXPECT_EQ(f.at("label"), std::vector<std::string>{"com.docker.compose.project=x"});
  EXPECT_EQ(f.at("status"), std::vector<std::string>{"exited"});

  Filters legacy = parse_filters(R"({"name":["b","a","b"],"dangling":["true"]})");
  EXPECT_EQ(legacy.at("name"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(legacy.at("dangling"), std::vector<std::string>{"true"});

  EXPECT_TRUE(query_filters(Query()).empty());
  EXPECT_THROW(parse_filters("{nope"), ApiError);
  EXPECT_THROW(parse_filters(R"({"a":1})"), ApiError);
  EXPECT_THROW(parse_filters(R"([1])"), ApiError);
}

}  // namespace
}  // namespace berth::api
