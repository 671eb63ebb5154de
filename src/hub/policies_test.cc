#include "hub/policies.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/test_util.h"
#include "hub/registry_error.h"

namespace berth::hub {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(GlobMatch, MatchesWholeTagsWithStarAndQuestionMark) {
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("v*", "v1.2.3"));
  EXPECT_TRUE(glob_match("v*", "v"));
  EXPECT_FALSE(glob_match("v*", "latest"));
  EXPECT_FALSE(glob_match("v*", "xv1"));
  EXPECT_TRUE(glob_match("*-rc?", "1.0-rc1"));
  EXPECT_FALSE(glob_match("*-rc?", "1.0-rc10"));
  EXPECT_TRUE(glob_match("release-*-final", "release-2024-01-final"));
  EXPECT_FALSE(glob_match("release-*-final", "release-2024-01-final2"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXcYb"));
  EXPECT_TRUE(glob_match("latest", "latest"));
  EXPECT_FALSE(glob_match("latest", "latest2"));
  EXPECT_FALSE(glob_match("", "x"));
}

TEST(NamespaceOf, IsTheFirstComponent) {
  EXPECT_EQ(namespace_of("acme/app/web"), "acme");
  EXPECT_EQ(namespace_of("busybox"), "busybox");
}

TEST(PolicyJson, RoundTripsAndRejectsBadFields) {
  RepositoryPolicy p = policy_from_json(nlohmann::json::parse(
      R"({"immutable_tags": ["v*", "stable"], "retention": {"keep_last": 3, "pattern": "dev-*"}})"));
  EXPECT_THAT(p.immutable_tags, ElementsAre("v*", "stable"));
  ASSERT_TRUE(p.retention);
  EXPECT_EQ(*p.retention->keep_last, 3);
  EXPECT_FALSE(p.retention->older_than_days);
  EXPECT_EQ(p.retention->pattern, "dev-*");
  EXPECT_EQ(policy_to_json(policy_from_json(policy_to_json(p))), policy_to_json(p));

  auto error_of = [](const char* text) {
    try {
      policy_from_json(nlohmann::json::parse(text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of(R"({"retention": {"keep_last": -1}})"), HasSubstr("retention.keep_last"));
  EXPECT_THAT(error_of(R"({"retention": {"pattern": "*"}})"), HasSubstr("set keep_last, older_than_days"));
  EXPECT_THAT(error_of(R"({"immutable_tags": ["a/b"]})"), HasSubstr("immutable_tags"));
  EXPECT_THAT(error_of(R"([1])"), HasSubstr("want a JSON object"));
}

constexpr int64_t kDay = 86400;
constexpr int64_t kNow = 1'700'000'000;

std::vector<TagInfo> sample_tags() {
  return {{"v1", "d1", kNow - 30 * kDay}, {"v2", "d2", kNow - 20 * kDay}, {"v3", "d3", kNow - 10 * kDay},
          {"v4", "d4", kNow - 1 * kDay},  {"latest", "d4", kNow - 1 * kDay}, {"dev-1", "d5", kNow - 40 * kDay}};
}

TEST(SelectRetention, KeepLastRemovesAllButTheNewest) {
  RetentionRule r{.keep_last = 2};
  // Newest: latest and v4 (same second, "v4" > "latest"), then v3, v2, v1, dev-1.
  EXPECT_THAT(select_retention(r, {}, sample_tags(), kNow), ElementsAre("dev-1", "v1", "v2", "v3"));
}

TEST(SelectRetention, OlderThanRemovesOldTags) {
  RetentionRule r{.older_than_days = 15};
  EXPECT_THAT(select_retention(r, {}, sample_tags(), kNow), ElementsAre("dev-1", "v1", "v2"));
}

TEST(SelectRetention, BothMustHoldAndThePatternLimitsTheTags) {
  RetentionRule r{.keep_last = 1, .older_than_days = 15, .pattern = "v*"};
  // v4 is kept as the newest v*, v3 as younger than 15 days; dev-1 and latest do not match.
  EXPECT_THAT(select_retention(r, {}, sample_tags(), kNow), ElementsAre("v1", "v2"));
  RetentionRule none{.keep_last = 10};
  EXPECT_THAT(select_retention(none, {}, sample_tags(), kNow), IsEmpty());
}

TEST(SelectRetention, NeverRemovesImmutableTags) {
  RetentionRule r{.keep_last = 0};
  EXPECT_THAT(select_retention(r, {"v*"}, sample_tags(), kNow), ElementsAre("dev-1", "latest"));
}

class PoliciesTest : public ::testing::Test {
 protected:
  PoliciesTest() : db_(open_database(dir_ / "hub.db")), meta_(*db_), policies_(*db_, meta_) {
    meta_.migrate();
    policies_.migrate();
  }
  void tag(const std::string& repo, const std::string& tag, const std::string& digest, int64_t when) {
    meta_.put_manifest(repo, ManifestRecord{.digest = digest, .media_type = "m", .pushed_unix = when}, {}, tag);
  }

  test::TempDir dir_;
  std::unique_ptr<Database> db_;
  Metadata meta_;
  Policies policies_;
};

TEST_F(PoliciesTest, UsageCountsDistinctBlobsOfTheNamespaceOnly) {
  meta_.link_blob("acme/a", "sha256:1", 100);
  meta_.link_blob("acme/b", "sha256:1", 100);  // the same bytes count once
  meta_.link_blob("acme/b/c", "sha256:2", 20);
  meta_.link_blob("acme", "sha256:3", 3);
  meta_.link_blob("acmex/a", "sha256:4", 1000);  // another namespace with the same prefix
  meta_.link_blob("acm_/a", "sha256:5", 1000);    // `_` must not act as a wildcard
  EXPECT_EQ(policies_.used_bytes("acme"), 123);
  EXPECT_EQ(policies_.used_bytes("acm_"), 1000);
  EXPECT_EQ(policies_.used_bytes("nobody"), 0);
}

TEST_F(PoliciesTest, QuotaRefusesABlobThatWouldExceedTheLimit) {
  policies_.set_quota("acme", 150);
  EXPECT_EQ(*policies_.quota("acme"), 150);
  meta_.link_blob("acme/a", "sha256:1", 100);
  EXPECT_NO_THROW(policies_.admit_blob("acme/b", "sha256:2", 50));  // exactly at the limit
  try {
    policies_.admit_blob("acme/b", "sha256:3", 51);
    FAIL() << "expected a quota refusal";
  } catch (const RegistryError& e) {
    EXPECT_EQ(e.status(), 403);
    EXPECT_EQ(e.code(), "DENIED");
    EXPECT_STREQ(e.what(), "quota exceeded for namespace acme: used 100 of 150 bytes");
  }
  // Bytes the namespace already has cost nothing (a mount within it).
  meta_.link_blob("acme/a", "sha256:big", 1000);
  EXPECT_NO_THROW(policies_.admit_blob("acme/c", "sha256:big", 1000));
  // Other namespaces and removed quotas are unlimited.
  EXPECT_NO_THROW(policies_.admit_blob("other/x", "sha256:9", 1 << 30));
  policies_.set_quota("acme", std::nullopt);
  EXPECT_FALSE(policies_.quota("acme"));
  EXPECT_NO_THROW(policies_.admit_blob("acme/b", "sha256:3", 1 << 30));
}

TEST_F(PoliciesTest, ImmutableTagsCannotMoveOrBeDeleted) {
  policies_.set_policy("acme/app", RepositoryPolicy{.immutable_tags = {"v*"}});
  tag("acme/app", "v1", "sha256:a", 1);
  tag("acme/app", "latest", "sha256:a", 1);
  EXPECT_NO_THROW(policies_.admit_manifest("acme/app", "v1", "sha256:a", {}));  // same digest again
  EXPECT_NO_THROW(policies_.admit_manifest("acme/app", "v2", "sha256:b", {}));  // a new tag
  EXPECT_NO_THROW(policies_.admit_manifest("acme/app", "latest", "sha256:b", {}));
  EXPECT_NO_THROW(policies_.admit_manifest("other/app", "v1", "sha256:b", {}));
  try {
    policies_.admit_manifest("acme/app", "v1", "sha256:b", {});
    FAIL() << "expected an immutability refusal";
  } catch (const RegistryError& e) {
    EXPECT_EQ(e.status(), 403);
    EXPECT_EQ(e.code(), "DENIED");
    EXPECT_THAT(e.what(), HasSubstr("tag v1 of acme/app is immutable"));
  }
  EXPECT_THROW(policies_.admit_tag_delete("acme/app", "v1"), RegistryError);
  EXPECT_NO_THROW(policies_.admit_tag_delete("acme/app", "latest"));
  EXPECT_THROW(policies_.admit_manifest_delete("acme/app", "sha256:a"), RegistryError);
  EXPECT_NO_THROW(policies_.admit_manifest_delete("acme/app", "sha256:c"));
}

TEST_F(PoliciesTest, AdmittingRecordsUsesForTheCollector) {
  policies_.admit_manifest("acme/app", "", "sha256:m", {"sha256:l"});
  policies_.admit_blob("acme/app", "sha256:b", 1);
  auto rows = db_->query("SELECT digest FROM blob_uses ORDER BY digest");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].text(0), "sha256:b");
  EXPECT_EQ(rows[1].text(0), "sha256:l");
  EXPECT_EQ(rows[2].text(0), "sha256:m");
}

TEST_F(PoliciesTest, RetentionRemovesTheSelectedTagsOnly) {
  policies_.set_policy("acme/app",
                       RepositoryPolicy{.immutable_tags = {"stable"}, .retention = RetentionRule{.keep_last = 1}});
  tag("acme/app", "a", "sha256:1", kNow - 3);
  tag("acme/app", "b", "sha256:2", kNow - 2);
  tag("acme/app", "c", "sha256:3", kNow - 1);
  tag("acme/app", "stable", "sha256:1", kNow - 5);
  EXPECT_THAT(policies_.run_retention("acme/app", /*dry_run=*/true, kNow), ElementsAre("a", "b"));
  EXPECT_THAT(meta_.tags("acme/app", "", -1), ElementsAre("a", "b", "c", "stable"));
  EXPECT_THAT(policies_.run_retention("acme/app", false, kNow), ElementsAre("a", "b"));
  EXPECT_THAT(meta_.tags("acme/app", "", -1), ElementsAre("c", "stable"));
  EXPECT_THAT(policies_.run_retention("other/app", false, kNow), IsEmpty());
}

}  // namespace
}  // namespace berth::hub
