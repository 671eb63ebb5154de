#include "registry/auth_challenge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_util.h"

namespace berth::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using test::error_of;

AuthChallenge only(const std::string& header) {
  auto all = parse_auth_challenges({header});
  EXPECT_EQ(all.size(), 1u) << header;
  return all.empty() ? AuthChallenge{} : all[0];
}

TEST(ParseAuthChallenges, DockerHubBearer) {
  auto ch = only(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  EXPECT_EQ(ch.scheme, "bearer");
  EXPECT_THAT(ch.params, UnorderedElementsAre(Pair("realm", "https://auth.docker.io/token"),
                                              Pair("service", "registry.docker.io"),
                                              Pair("scope", "repository:library/busybox:pull")));
}

TEST(ParseAuthChallenges, SchemeAndKeysAreCaseInsensitiveValuesAreNot) {
  auto ch = only(R"(BASIC Realm="Registry Realm", CharSet=UTF-8)");
  EXPECT_EQ(ch.scheme, "basic");
  EXPECT_THAT(ch.params, UnorderedElementsAre(Pair("realm", "Registry Realm"), Pair("charset", "UTF-8")));
}

TEST(ParseAuthChallenges, TokensAndWhitespaceAroundCommas) {
  auto ch = only("Bearer  realm=https , \tservice=reg.example ,scope=x");
  EXPECT_THAT(ch.params, UnorderedElementsAre(Pair("realm", "https"), Pair("service", "reg.example"),
                                              Pair("scope", "x")));
}

TEST(ParseAuthChallenges, QuotedCommasAndEscapedQuotes) {
  auto ch = only(R"(Bearer realm="https://a/t?x=1,2",scope="repository:a/b:pull,push",error="say \"hi\" \\ bye")");
  EXPECT_EQ(ch.param("realm"), "https://a/t?x=1,2");
  EXPECT_EQ(ch.param("scope"), "repository:a/b:pull,push");
  EXPECT_EQ(ch.param("error"), R"(say "hi" \ bye)");
}

TEST(ParseAuthChallenges, SchemeWithoutParams) {
  auto ch = only("Basic");
  EXPECT_EQ(ch.scheme, "basic");
  EXPECT_TRUE(ch.params.empty());
}

TEST(ParseAuthChallenges, EmptyAndSchemelessValuesAreSkipped) {
  EXPECT_TRUE(parse_auth_challenges({}).empty());
  EXPECT_TRUE(parse_auth_challenges({"", "   ", "=x", "\"Bearer\" realm=x"}).empty());
}

TEST(ParseAuthChallenges, OneChallengePerHeaderValueAsDocker) {
  // docker reads one challenge per header line: the second scheme in a value
  // is taken for a parameter without '=' and ends parsing.
  auto all = parse_auth_challenges({R"(Basic realm="x", Bearer realm="y")"});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].scheme, "basic");
  EXPECT_THAT(all[0].params, ElementsAre(Pair("realm", "x")));

  all = parse_auth_challenges({R"(Basic realm="x")", R"(Bearer realm="y",service="s")"});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].scheme, "bearer");
  EXPECT_EQ(all[1].param("service"), "s");
}

TEST(ParseAuthChallenges, MalformedParameterKeepsWhatCameBefore) {
  // Missing value, empty quoted value, space before '=', unterminated quote:
  // each ends the challenge where it stands.
  EXPECT_THAT(only("Bearer realm=a,service=,scope=s").params, ElementsAre(Pair("realm", "a")));
  EXPECT_THAT(only(R"(Bearer realm=a,service="",scope=s)").params, ElementsAre(Pair("realm", "a")));
  EXPECT_THAT(only("Bearer realm=a, service =b").params, ElementsAre(Pair("realm", "a")));
  EXPECT_THAT(only(R"(Bearer realm=a,service="open)").params, ElementsAre(Pair("realm", "a")));
  EXPECT_THAT(only(R"(Bearer realm=a,service="trailing\)").params, ElementsAre(Pair("realm", "a")));
  EXPECT_THAT(only("Bearer realm=a,,scope=s").params, ElementsAre(Pair("realm", "a")));
  EXPECT_TRUE(only("Bearer ,realm=a").params.empty());
  // A bare token value stops at a separator such as ':'.
  EXPECT_THAT(only("Bearer realm=https://x").params, ElementsAre(Pair("realm", "https")));
}

TEST(ParseAuthChallenges, LaterDuplicateWins) {
  EXPECT_EQ(only("Bearer realm=a,REALM=b").param("realm"), "b");
}

TEST(RepositoryScope, PullAndPush) {
  EXPECT_EQ(repository_scope("library/busybox", false), "repository:library/busybox:pull");
  EXPECT_EQ(repository_scope("me/app", true), "repository:me/app:pull,push");
}

TEST(TokenRequestUrl, EscapesAndSortsLikeGo) {
  auto ch = only(R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io")");
  EXPECT_EQ(token_request_url(ch, {repository_scope("library/busybox", false)}),
            "https://auth.docker.io/token?scope=repository%3Alibrary%2Fbusybox%3Apull&service=registry.docker.io");
  EXPECT_EQ(token_request_url(ch, {"repository:a/b:pull", "repository:c/d:pull,push"}, "me@x y"),
            "https://auth.docker.io/token?account=me%40x+y&scope=repository%3Aa%2Fb%3Apull&"
            "scope=repository%3Ac%2Fd%3Apull%2Cpush&service=registry.docker.io");
}

TEST(TokenRequestUrl, KeepsTheRealmsQuery) {
  auto ch = only(R"(Bearer realm="https://h/auth?tenant=a%20b&scope=extra&bad=%zz&x;y=1&flag#frag")");
  EXPECT_EQ(token_request_url(ch, {"repository:r:pull"}),
            "https://h/auth?flag=&scope=extra&scope=repository%3Ar%3Apull&tenant=a+b");
}

TEST(TokenRequestUrl, NoServiceNoScopes) {
  auto ch = only(R"(Bearer realm="http://127.0.0.1:5001/token")");
  EXPECT_EQ(token_request_url(ch, {}), "http://127.0.0.1:5001/token");
}

TEST(TokenRequestUrl, MissingRealmIsAnError) {
  EXPECT_THAT(error_of([] { token_request_url(only("Bearer service=x"), {}); }), HasSubstr("no realm"));
}

TEST(ParseTokenResponse, TokenOrAccessToken) {
  auto t = parse_token_response(R"({"token":"abc","expires_in":300,"issued_at":"2024-01-02T03:04:05Z"})");
  EXPECT_EQ(t.token, "abc");
  EXPECT_EQ(t.expires_in, std::chrono::seconds(300));
  EXPECT_EQ(t.issued_at, "2024-01-02T03:04:05Z");
  EXPECT_EQ(t.refresh_token, "");

  t = parse_token_response(R"({"access_token":"xyz","refresh_token":"r1"})");
  EXPECT_EQ(t.token, "xyz");
  EXPECT_EQ(t.refresh_token, "r1");
  // Both present: access_token wins, as in docker.
  EXPECT_EQ(parse_token_response(R"({"token":"t","access_token":"a"})").token, "a");
  EXPECT_EQ(parse_token_response(R"({"token":"t","access_token":""})").token, "t");
}

TEST(ParseTokenResponse, ExpiryDefaultsAndFloorsAtAMinute) {
  EXPECT_EQ(parse_token_response(R"({"token":"t"})").expires_in, std::chrono::seconds(60));
  EXPECT_EQ(parse_token_response(R"({"token":"t","expires_in":5})").expires_in, std::chrono::seconds(60));
  EXPECT_EQ(parse_token_response(R"({"token":"t","expires_in":-1})").expires_in, std::chrono::seconds(60));
  EXPECT_EQ(parse_token_response(R"({"token":"t","expires_in":null})").expires_in, std::chrono::seconds(60));
  EXPECT_EQ(parse_token_response(R"({"token":"t","expires_in":61})").expires_in, std::chrono::seconds(61));
}

TEST(ParseTokenResponse, Errors) {
  EXPECT_THAT(error_of([] { parse_token_response("<html>502</html>"); }), HasSubstr("token response: "));
  EXPECT_THAT(error_of([] { parse_token_response(""); }), HasSubstr("token response: "));
  EXPECT_THAT(error_of([] { parse_token_response("[1]"); }), HasSubstr("not a JSON object"));
  EXPECT_THAT(error_of([] { parse_token_response("{}"); }),
              HasSubstr("token response: authorization server did not include a token"));
  EXPECT_THAT(error_of([] { parse_token_response(R"({"token":""})"); }), HasSubstr("did not include a token"));
  EXPECT_THAT(error_of([] { parse_token_response(R"({"token":5})"); }), HasSubstr("\"token\" is not a string"));
  EXPECT_THAT(error_of([] { parse_token_response(R"({"token":"t","expires_in":"60"})"); }),
              HasSubstr("\"expires_in\" is not an integer"));
}

}  // namespace
}  // namespace berth::registry
