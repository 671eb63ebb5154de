#include "hub/accounts.h"

#include <gtest/gtest.h>

#include "base/test_util.h"
#include "http/query.h"
#include "hub/metadata.h"

namespace berth::hub {
namespace {

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Metadata(*db_).migrate();
    accounts_.migrate();
    accounts_.create_user("alice", "alice-password", "alice@example.com", false);
    accounts_.create_user("bob", "bob-password", "", false);
    accounts_.create_user("root", "root-password", "", true);
    accounts_.create_org("acme", "alice");
  }
  Principal as(const std::string& name) { return accounts_.principal(name); }

  test::TempDir dir_;
  std::unique_ptr<Database> db_ = open_database(dir_.path() + "/hub.db");
  Accounts accounts_{*db_, kTestScryptCost};
};

TEST_F(AccountsTest, PublicRepositoriesAreReadableByAnyoneAndOwnedByTheirNamespace) {
  accounts_.ensure_repository("alice/app", false);
  EXPECT_EQ(accounts_.level(Principal{}, "alice/app"), Level::kRead);
  EXPECT_EQ(accounts_.level(as("bob"), "alice/app"), Level::kRead);
  EXPECT_EQ(accounts_.level(as("alice"), "alice/app"), Level::kAdmin);
  EXPECT_EQ(accounts_.level(as("root"), "alice/app"), Level::kAdmin);
  EXPECT_EQ(accounts_.level(as("alice"), "alice/missing"), Level::kNone);
}

TEST_F(AccountsTest, PrivateRepositoriesNeedAGrantOrATeam) {
  accounts_.ensure_repository("acme/private", true);
  EXPECT_EQ(accounts_.level(Principal{}, "acme/private"), Level::kNone);
  EXPECT_EQ(accounts_.level(as("bob"), "acme/private"), Level::kNone);
  EXPECT_EQ(accounts_.level(as("alice"), "acme/private"), Level::kAdmin);  // owners team of acme
  accounts_.create_team("acme", "devs");
  accounts_.add_team_member("acme", "devs", "bob");
  accounts_.grant("acme/private", "devs", /*is_team=*/true, Level::kWrite);
  EXPECT_EQ(accounts_.level(as("bob"), "acme/private"), Level::kWrite);
  accounts_.grant("acme/private", "bob", /*is_team=*/false, Level::kRead);
  EXPECT_EQ(accounts_.level(as("bob"), "acme/private"), Level::kWrite);  // the highest grant wins
  ASSERT_TRUE(accounts_.remove_team_member("acme", "devs", "bob"));
  EXPECT_EQ(accounts_.level(as("bob"), "acme/private"), Level::kRead);
  // A team of another organization with the same name grants nothing here.
  accounts_.create_org("other", "bob");
  accounts_.create_team("other", "devs");
  accounts_.add_team_member("other", "devs", "bob");
  ASSERT_TRUE(accounts_.revoke("acme/private", "bob", false));
  EXPECT_EQ(accounts_.level(as("bob"), "acme/private"), Level::kNone);
}

TEST_F(AccountsTest, OnlyNamespaceOwnersCreateRepositories) {
  EXPECT_TRUE(accounts_.can_create(as("alice"), "alice/new"));
  EXPECT_TRUE(accounts_.can_create(as("alice"), "acme/new"));
  EXPECT_FALSE(accounts_.can_create(as("bob"), "acme/new"));
  EXPECT_FALSE(accounts_.can_create(as("bob"), "alice/new"));
  EXPECT_FALSE(accounts_.can_create(Principal{}, "alice/new"));
  EXPECT_FALSE(accounts_.can_create(as("alice"), "toplevel"));
  EXPECT_TRUE(accounts_.can_create(as("root"), "toplevel"));
}

TEST_F(AccountsTest, CredentialsAndTokens) {
  EXPECT_TRUE(accounts_.check_password("alice", "alice-password"));
  EXPECT_FALSE(accounts_.check_password("alice", "bob-password"));
  EXPECT_FALSE(accounts_.check_password("nobody", "alice-password"));
  EXPECT_FALSE(accounts_.check_password("acme", ""));  // organizations cannot log in

  auto [id, token] = accounts_.create_token("alice", "ci", Level::kRead);
  auto p = accounts_.check_credentials("alice", token);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "alice");
  EXPECT_EQ(p->cap, Level::kRead);
  accounts_.ensure_repository("alice/app", false);
  EXPECT_EQ(accounts_.level(*p, "alice/app"), Level::kRead);  // capped although alice owns it
  EXPECT_FALSE(accounts_.can_create(*p, "alice/other"));
  EXPECT_FALSE(accounts_.check_credentials("bob", token));  // someone else's token
  std::string tampered = token;
  tampered.back() = tampered.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(accounts_.check_token(tampered));
  EXPECT_TRUE(accounts_.delete_token("alice", id));
  EXPECT_FALSE(accounts_.check_token(token));

  auto [expired_id, expired] = accounts_.create_token("alice", "old", Level::kWrite, /*expires_unix=*/1);
  EXPECT_FALSE(accounts_.check_token(expired));
}

TEST_F(AccountsTest, RobotsActOnlyThroughGrants) {
  auto [robot, token] = accounts_.create_robot("acme", "ci");
  EXPECT_EQ(robot, "acme+ci");
  auto p = accounts_.check_credentials(robot, token);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->robot);
  accounts_.ensure_repository("acme/app", true);
  EXPECT_EQ(accounts_.level(*p, "acme/app"), Level::kNone);
  EXPECT_FALSE(accounts_.can_create(*p, "acme/new"));
  accounts_.grant("acme/app", robot, false, Level::kWrite);
  EXPECT_EQ(accounts_.level(*p, "acme/app"), Level::kWrite);
  EXPECT_FALSE(accounts_.check_password(robot, ""));
}

TEST_F(AccountsTest, NamesAreCheckedAndUnique) {
  EXPECT_THROW(accounts_.create_user("alice", "another-password", "", false), http::HttpError);
  EXPECT_THROW(accounts_.create_org("bob", "alice"), http::HttpError);  // users and orgs share names
  EXPECT_THROW(accounts_.create_user("Bad", "long-enough", "", false), http::HttpError);
  EXPECT_THROW(accounts_.create_user("a/b", "long-enough", "", false), http::HttpError);
  EXPECT_THROW(accounts_.create_user("carol", "short", "", false), http::HttpError);
}

TEST_F(AccountsTest, SearchHidesWhatTheCallerCannotRead) {
  accounts_.ensure_repository("alice/tool", false);
  accounts_.ensure_repository("alice/secret-tool", true);
  accounts_.update_repository("alice/tool", nlohmann::json{{"description", "A Useful Tool"}});
  auto names = [](const std::vector<RepositoryInfo>& v) {
    std::vector<std::string> out;
    for (const auto& r : v) out.push_back(r.name);
    return out;
  };
  EXPECT_EQ(names(accounts_.search(Principal{}, "tool")), std::vector<std::string>{"alice/tool"});
  EXPECT_EQ(names(accounts_.search(Principal{}, "useful")), std::vector<std::string>{"alice/tool"});
  EXPECT_EQ(names(accounts_.search(as("alice"), "tool")),
            (std::vector<std::string>{"alice/secret-tool", "alice/tool"}));
}

TEST_F(AccountsTest, LoginFailuresAreCountedPerKeyAndForgotten) {
  accounts_.record_login_failure({"name:alice", "addr:10.0.0.7"}, 1000, 0);
  accounts_.record_login_failure({"name:alice", "addr:10.0.0.8"}, 1100, 0);
  EXPECT_EQ(accounts_.login_failures_since("name:alice", 0), 2);
  EXPECT_EQ(accounts_.login_failures_since("name:alice", 1050), 1);
  EXPECT_EQ(accounts_.login_failures_since("addr:10.0.0.7", 0), 1);
  EXPECT_EQ(accounts_.login_failures_since("name:bob", 0), 0);
  // A replica sharing the database sees the same counts.
  Accounts replica(*db_, kTestScryptCost);
  EXPECT_EQ(replica.login_failures_since("name:alice", 0), 2);
  // Recording forgets what fell out of the window.
  accounts_.record_login_failure({"name:bob"}, 2000, 1050);
  EXPECT_EQ(accounts_.login_failures_since("name:alice", 0), 1);
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM login_failures")[0].integer(0), 3) << "the two at 1100 and bob's";
}

}  // namespace
}  // namespace berth::hub
