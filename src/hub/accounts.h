// Accounts: berth-hub's users, organizations with teams, robot accounts,
// personal access tokens, repository settings (visibility, descriptions,
// stars) and grants, and the permission rule that combines them.
//
// Contract:
// - Names: users, organizations and robots share one namespace of
//   repository-name components ("alice", "acme"); a robot is
//   "<namespace>+<name>". Passwords and tokens are stored only as slow
//   salted hashes (hub/password.h); a token's plaintext is returned once.
// - Access tokens look like "bhp_<id>_<secret>" so the row is found by id
//   and the secret checked against its hash; robots log in with theirs.
// - level(): site admins and owners of the repository's namespace (the user
//   it is named after, or members of the organization's "owners" team) are
//   kAdmin; then the highest of the user's and their teams' grants; public
//   repositories are at least kRead for everyone. A token caps the result.
//   Repositories that do not exist are kNone (can_create says who may).
// - Thread-safe (all state is in the database).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/hub_context.h"
#include "hub/password.h"
#include "hub/sql.h"

namespace berth::hub {

std::string level_name(Level l);  // "none", "read", "write", "admin"
// "read"/"write"/"admin" (also "pull"/"push"); nullopt otherwise.
std::optional<Level> parse_level(std::string_view s);

struct RepositoryInfo {
  std::string name;
  bool is_private = false;
  std::string description;
  std::string full_description;
  int64_t star_count = 0;
  int64_t created = 0;
};

class Accounts {
 public:
  explicit Accounts(Database& db, ScryptCost cost = {}) : db_(db), cost_(cost) {}
  void migrate();

  // Users and organizations. Throw http::HttpError 400/409 on bad or taken names.
  void create_user(const std::string& name, const std::string& password, const std::string& email,
                   bool site_admin);
  void set_password(const std::string& name, const std::string& password);
  void create_org(const std::string& name, const std::string& owner);
  bool exists(const std::string& name);  // user, org or robot
  bool is_org(const std::string& name);
  nlohmann::json user_json(const std::string& name);

  void create_team(const std::string& org, const std::string& team);
  void add_team_member(const std::string& org, const std::string& team, const std::string& user);
  bool remove_team_member(const std::string& org, const std::string& team, const std::string& user);
  nlohmann::json teams_json(const std::string& org);
  bool team_exists(const std::string& org, const std::string& team);

  // Credentials. Both return nullopt when the name/secret pair is wrong.
  std::optional<Principal> check_password(const std::string& name, const std::string& password);
  std::optional<Principal> check_token(const std::string& token);
  // Password or access token, whichever `secret` is.
  std::optional<Principal> check_credentials(const std::string& name, const std::string& secret);
  Principal principal(const std::string& name);

  // Failed logins, kept in the database so that every replica counts them.
  // key: what the failure is counted against ("name:alice", "addr:10.0.0.7").
  int64_t login_failures_since(const std::string& key, int64_t since_unix);
  // Records a failure against each key, and forgets failures older than forget_before_unix.
  void record_login_failure(const std::vector<std::string>& keys, int64_t at_unix, int64_t forget_before_unix);

  // Personal access tokens (and robots' tokens). Returns {id, plaintext}.
  std::pair<std::string, std::string> create_token(const std::string& user, const std::string& description,
                                                   Level scope, int64_t expires_unix = 0);
  nlohmann::json tokens_json(const std::string& user);
  bool delete_token(const std::string& user, const std::string& id);
  // Creates robot "<ns>+<name>" and its first token; returns {robot name, token}.
  std::pair<std::string, std::string> create_robot(const std::string& ns, const std::string& name);

  // Repositories.
  std::optional<RepositoryInfo> repository(const std::string& repo);
  void ensure_repository(const std::string& repo, bool is_private);
  void update_repository(const std::string& repo, const nlohmann::json& patch);
  void grant(const std::string& repo, const std::string& principal, bool is_team, Level level);
  bool revoke(const std::string& repo, const std::string& principal, bool is_team);
  nlohmann::json grants_json(const std::string& repo);
  void star(const std::string& repo, const std::string& user, bool on);

  Level level(const Principal& p, const std::string& repo);
  bool can_create(const Principal& p, const std::string& repo);
  // Whether p owns namespace ns (itself, or an owner of the organization).
  bool owns_namespace(const Principal& p, const std::string& ns);
  // Repositories p can read whose name or description contains query
  // (case-insensitive; "" for all), by name.
  std::vector<RepositoryInfo> search(const Principal& p, const std::string& query);

 private:
  Database& db_;
  ScryptCost cost_;
};

}  // namespace berth::hub
