// Policies: per-namespace storage quotas, per-repository tag immutability
// and tag retention; and PolicyApi, their JSON API under /api/v1/ together
// with the garbage collection trigger.
//
// Contract:
// - A namespace is a repository name's first path component (the whole name
//   when it has one component). Its usage is the bytes of the distinct blobs
//   linked to its repositories. admit_blob() is called before a blob is
//   linked (upload finished, cross-repo mount): it refuses with RegistryError
//   403 DENIED when the namespace lacks the blob and usage + size would
//   exceed the limit. Concurrent uploads may overshoot by what is in flight.
// - A tag is immutable when it matches one of its repository's patterns
//   (glob: `*` any run, `?` one character). admit_manifest() refuses to move
//   an existing immutable tag to another digest, admit_tag_delete() and
//   admit_manifest_delete() refuse to remove one; all with 403 DENIED.
// - admit_blob() and admit_manifest() also record the use of the digests
//   they are about to check, for the garbage collector (see hub/gc.h); the
//   registry calls them before it looks at the blobs.
// - Retention removes tags only (the manifests go with a later collection
//   with delete_untagged). Among the tags matching the rule's pattern
//   (default `*`), newest first by push time, a tag goes when it is past the
//   first keep_last and (when set) older than older_than_days; with only
//   one of the two set, that one alone decides. Immutable tags never go.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/server.h"
#include "hub/gc.h"
#include "hub/hub_context.h"
#include "hub/metadata.h"
#include "hub/sql.h"

namespace berth::hub {

// Glob match over the whole string: `*` any run (also empty), `?` one character.
bool glob_match(std::string_view pattern, std::string_view s);

// "acme/app/web" -> "acme"; "busybox" -> "busybox".
std::string namespace_of(std::string_view repo);

struct RetentionRule {
  std::optional<int64_t> keep_last;
  std::optional<int64_t> older_than_days;
  std::string pattern = "*";
};

struct RepositoryPolicy {
  std::vector<std::string> immutable_tags;
  std::optional<RetentionRule> retention;
};

// {"immutable_tags": [...], "retention": {"keep_last", "older_than_days", "pattern"} | null}.
// from_json throws Error naming the bad field.
nlohmann::json policy_to_json(const RepositoryPolicy& p);
RepositoryPolicy policy_from_json(const nlohmann::json& j);

struct TagInfo {
  std::string tag;
  std::string digest;
  int64_t updated_unix = 0;
};

// The tags rule removes from tags (any order), sorted by name.
std::vector<std::string> select_retention(const RetentionRule& rule, const std::vector<std::string>& immutable,
                                          std::vector<TagInfo> tags, int64_t now_unix);

class Policies {
 public:
  Policies(Database& db, Metadata& meta) : db_(db), meta_(meta) {}
  // Creates the tables (and GC's, whose use records admit_* write).
  void migrate();

  // Quotas; limit nullopt = unlimited.
  std::optional<int64_t> quota(const std::string& ns);
  void set_quota(const std::string& ns, std::optional<int64_t> limit_bytes);
  int64_t used_bytes(const std::string& ns);

  RepositoryPolicy policy(const std::string& repo);
  void set_policy(const std::string& repo, const RepositoryPolicy& p);
  bool tag_immutable(const std::string& repo, const std::string& tag);

  // Registry hooks (see the contract).
  void admit_blob(const std::string& repo, const std::string& digest, int64_t size);
  void admit_manifest(const std::string& repo, const std::string& tag, const std::string& digest,
                      const std::vector<std::string>& references);
  void admit_tag_delete(const std::string& repo, const std::string& tag);
  void admit_manifest_delete(const std::string& repo, const std::string& digest);

  // Applies repo's retention rule; returns the tags removed (with dry_run,
  // the tags that would be).
  std::vector<std::string> run_retention(const std::string& repo, bool dry_run = false, int64_t now_unix = 0);
  // Every repository with a rule; errors of one repository do not stop the rest.
  int64_t run_all_retention();

 private:
  Database& db_;
  Metadata& meta_;
};

// /api/v1/gc, /api/v1/namespaces/<ns>/quota, /api/v1/repositories/<repo>/policies
// and /api/v1/repositories/<repo>/retention/run. Errors are http::HttpError.
class PolicyApi {
 public:
  PolicyApi(HubContext& ctx, Policies& policies, GarbageCollector& gc) : ctx_(ctx), policies_(policies), gc_(gc) {}
  // False when the path is none of the above (the caller goes on routing).
  bool serve(http::Request& req, http::Response& res);

 private:
  void gc(http::Request& req, http::Response& res);
  void quota(http::Request& req, http::Response& res, const std::string& ns);
  void policies(http::Request& req, http::Response& res, const std::string& repo);
  void retention_run(http::Request& req, http::Response& res, const std::string& repo);

  HubContext& ctx_;
  Policies& policies_;
  GarbageCollector& gc_;
};

}  // namespace berth::hub
