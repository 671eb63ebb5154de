// Metadata: what berth-hub knows about repositories besides the bytes —
// which blobs each repository may serve, its manifests (with what they
// reference, for validation, referrers and garbage collection), tags and
// upload sessions — stored through hub/sql.h (SQLite or PostgreSQL).
//
// Contract:
// - migrate() creates or upgrades the schema; safe to call from several
//   replicas at once.
// - A blob is served from a repository only once linked to it (pushed there
//   or mounted); the bytes themselves live in the BlobStore.
// - put_manifest records the manifest, its references and optionally a tag
//   in one transaction; a tag always names a manifest of its repository.
// - List calls return names in byte order, after `last`, at most n (n < 0:
//   all).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hub/sql.h"

namespace berth::hub {

struct ManifestRecord {
  std::string digest;
  std::string media_type;
  int64_t size = 0;
  std::string artifact_type;   // artifactType, else the config's media type (referrers)
  std::string subject;         // digest of the manifest it refers to, or ""
  std::string annotations;     // JSON object text, or ""
  int64_t pushed_unix = 0;
};

struct ManifestReference {
  std::string digest;
  bool is_manifest = false;  // an index entry (else a blob: config or layer)
};

struct UploadRecord {
  std::string id;
  std::string repository;
  int64_t started_unix = 0;
};

class Metadata {
 public:
  explicit Metadata(Database& db) : db_(db) {}
  void migrate();

  // Blobs linked to repositories.
  void link_blob(const std::string& repo, const std::string& digest, int64_t size);
  std::optional<int64_t> linked_blob_size(const std::string& repo, const std::string& digest);
  bool unlink_blob(const std::string& repo, const std::string& digest);

  // Manifests and tags.
  void put_manifest(const std::string& repo, const ManifestRecord& m, const std::vector<ManifestReference>& refs,
                    const std::string& tag);
  std::optional<ManifestRecord> manifest(const std::string& repo, const std::string& digest);
  std::optional<std::string> tag_digest(const std::string& repo, const std::string& tag);
  // Deletes the manifest and every tag naming it; false when absent.
  bool delete_manifest(const std::string& repo, const std::string& digest);
  bool delete_tag(const std::string& repo, const std::string& tag);
  std::vector<std::string> tags(const std::string& repo, const std::string& last, int64_t n);
  bool repository_exists(const std::string& repo);
  std::vector<std::string> repositories(const std::string& last, int64_t n);
  std::vector<ManifestRecord> referrers(const std::string& repo, const std::string& subject);

  // Upload sessions.
  void create_upload(const UploadRecord& u);
  std::optional<UploadRecord> upload(const std::string& id);
  void delete_upload(const std::string& id);

 private:
  Database& db_;
};

}  // namespace berth::hub
