#include "hub/metadata.h"
#include "base/clock.h"

#include <chrono>
#include <limits>

#include <fmt/format.h>

namespace berth::hub {

// Every statement is portable between SQLite and PostgreSQL (see sql.h).
static const char* const kSchema[] = {
    "CREATE TABLE IF NOT EXISTS repositories (name TEXT PRIMARY KEY, created BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS repository_blobs (repository TEXT NOT NULL, digest TEXT NOT NULL, "
    "size BIGINT NOT NULL, PRIMARY KEY (repository, digest))",
    "CREATE INDEX IF NOT EXISTS repository_blobs_digest ON repository_blobs (digest)",
    "CREATE TABLE IF NOT EXISTS manifests (repository TEXT NOT NULL, digest TEXT NOT NULL, "
    "media_type TEXT NOT NULL, size BIGINT NOT NULL, artifact_type TEXT NOT NULL, subject TEXT NOT NULL, "
    "annotations TEXT NOT NULL, pushed BIGINT NOT NULL, PRIMARY KEY (repository, digest))",
    "CREATE INDEX IF NOT EXISTS manifests_subject ON manifests (repository, subject)",
    "CREATE TABLE IF NOT EXISTS manifest_references (repository TEXT NOT NULL, digest TEXT NOT NULL, "
    "child TEXT NOT NULL, is_manifest BIGINT NOT NULL, PRIMARY KEY (repository, digest, child))",
    "CREATE INDEX IF NOT EXISTS manifest_references_child ON manifest_references (child)",
    "CREATE TABLE IF NOT EXISTS tags (repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, "
    "updated BIGINT NOT NULL, PRIMARY KEY (repository, tag))",
    "CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, repository TEXT NOT NULL, started BIGINT NOT NULL)",
};

// LIMIT for "n < 0: all" (PostgreSQL has no negative LIMIT).
static int64_t limit(int64_t n) { return n < 0 ? std::numeric_limits<int64_t>::max() : n; }

void Metadata::migrate() {
  for (const char* stmt : kSchema) db_.exec(stmt);
}

static void ensure_repository(Sql& sql, const std::string& repo) {
  sql.exec("INSERT INTO repositories (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
           {repo, unix_seconds_now()});
}

void Metadata::link_blob(const std::string& repo, const std::string& digest, int64_t size) {
  db_.transaction([&](Sql& sql) {
    ensure_repository(sql, repo);
    sql.exec("INSERT INTO repository_blobs (repository, digest, size) VALUES (?, ?, ?) "
             "ON CONFLICT (repository, digest) DO NOTHING",
             {repo, digest, size});
  });
}

std::optional<int64_t> Metadata::linked_blob_size(const std::string& repo, const std::string& digest) {
  auto rows = db_.query("SELECT size FROM repository_blobs WHERE repository = ? AND digest = ?", {repo, digest});
  if (rows.empty()) return std::nullopt;
  return rows[0].integer(0);
}

bool Metadata::unlink_blob(const std::string& repo, const std::string& digest) {
  return db_.exec("DELETE FROM repository_blobs WHERE repository = ? AND digest = ?", {repo, digest}) > 0;
}

void Metadata::put_manifest(const std::string& repo, const ManifestRecord& m,
                            const std::vector<ManifestReference>& refs, const std::string& tag) {
  db_.transaction([&](Sql& sql) {
    ensure_repository(sql, repo);
    sql.exec("INSERT INTO manifests (repository, digest, media_type, size, artifact_type, subject, annotations, "
             "pushed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO NOTHING",
             {repo, m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations, m.pushed_unix});
    for (const auto& r : refs) {
      sql.exec("INSERT INTO manifest_references (repository, digest, child, is_manifest) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (repository, digest, child) DO NOTHING",
               {repo, m.digest, r.digest, int64_t{r.is_manifest}});
    }
    if (!tag.empty()) {
      sql.exec("INSERT INTO tags (repository, tag, digest, updated) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, updated = excluded.updated",
               {repo, tag, m.digest, m.pushed_unix});
    }
  });
}

static ManifestRecord manifest_from_row(const SqlRow& r) {
  return ManifestRecord{.digest = r.text(0),
                        .media_type = r.text(1),
                        .size = r.integer(2),
                        .artifact_type = r.text(3),
                        .subject = r.text(4),
                        .annotations = r.text(5),
                        .pushed_unix = r.integer(6)};
}

static constexpr const char* kManifestColumns =
    "digest, media_type, size, artifact_type, subject, annotations, pushed";

std::optional<ManifestRecord> Metadata::manifest(const std::string& repo, const std::string& digest) {
  auto rows = db_.query(fmt::format("SELECT {} FROM manifests WHERE repository = ? AND digest = ?", kManifestColumns),
                        {repo, digest});
  if (rows.empty()) return std::nullopt;
  return manifest_from_row(rows[0]);
}

std::optional<std::string> Metadata::tag_digest(const std::string& repo, const std::string& tag) {
  auto rows = db_.query("SELECT digest FROM tags WHERE repository = ? AND tag = ?", {repo, tag});
  if (rows.empty()) return std::nullopt;
  return rows[0].text(0);
}

bool Metadata::delete_manifest(const std::string& repo, const std::string& digest) {
  bool found = false;
  db_.transaction([&](Sql& sql) {
    found = sql.exec("DELETE FROM manifests WHERE repository = ? AND digest = ?", {repo, digest}) > 0;
    sql.exec("DELETE FROM manifest_references WHERE repository = ? AND digest = ?", {repo, digest});
    sql.exec("DELETE FROM tags WHERE repository = ? AND digest = ?", {repo, digest});
  });
  return found;
}

bool Metadata::delete_tag(const std::string& repo, const std::string& tag) {
  return db_.exec("DELETE FROM tags WHERE repository = ? AND tag = ?", {repo, tag}) > 0;
}

std::vector<std::string> Metadata::tags(const std::string& repo, const std::string& last, int64_t n) {
  std::vector<std::string> out;
  for (const auto& r : db_.query("SELECT tag FROM tags WHERE repository = ? AND tag > ? ORDER BY tag LIMIT ?",
                                 {repo, last, limit(n)})) {
    out.push_back(r.text(0));
  }
  return out;
}

bool Metadata::repository_exists(const std::string& repo) {
  return !db_.query("SELECT 1 FROM repositories WHERE name = ?", {repo}).empty();
}

std::vector<std::string> Metadata::repositories(const std::string& last, int64_t n) {
  std::vector<std::string> out;
  for (const auto& r : db_.query("SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
                                 {last, limit(n)})) {
    out.push_back(r.text(0));
  }
  return out;
}

std::vector<ManifestRecord> Metadata::referrers(const std::string& repo, const std::string& subject) {
  std::vector<ManifestRecord> out;
  for (const auto& r : db_.query(fmt::format("SELECT {} FROM manifests WHERE repository = ? AND subject = ? "
                                             "ORDER BY digest",
                                             kManifestColumns),
                                 {repo, subject})) {
    out.push_back(manifest_from_row(r));
  }
  return out;
}

void Metadata::create_upload(const UploadRecord& u) {
  db_.exec("INSERT INTO uploads (id, repository, started) VALUES (?, ?, ?)", {u.id, u.repository, u.started_unix});
}

std::optional<UploadRecord> Metadata::upload(const std::string& id) {
  auto rows = db_.query("SELECT id, repository, started FROM uploads WHERE id = ?", {id});
  if (rows.empty()) return std::nullopt;
  return UploadRecord{rows[0].text(0), rows[0].text(1), rows[0].integer(2)};
}

void Metadata::delete_upload(const std::string& id) { db_.exec("DELETE FROM uploads WHERE id = ?", {id}); }

}  // namespace berth::hub
