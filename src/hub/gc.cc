#include "hub/gc.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"

namespace berth::hub {

static const char* const kGcSchema[] = {
    "CREATE TABLE IF NOT EXISTS blob_uses (digest TEXT PRIMARY KEY, used BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gc_lock (name TEXT PRIMARY KEY, owner TEXT NOT NULL, started BIGINT NOT NULL)",
};

// A run this old is presumed to have died with its process.
static constexpr int64_t kStaleLockSeconds = 6 * 3600;

void migrate_gc(Database& db) {
  for (const char* stmt : kGcSchema) db.exec(stmt);
}

void record_blob_use(Database& db, const std::vector<std::string>& digests, int64_t now_unix) {
  // Distinct: PostgreSQL refuses to update one row twice in a statement.
  std::set<std::string> distinct(digests.begin(), digests.end());
  if (distinct.empty()) return;
  int64_t now = now_unix ? now_unix : unix_seconds_now();
  std::string sql = "INSERT INTO blob_uses (digest, used) VALUES ";
  std::vector<SqlValue> params;
  for (const auto& d : distinct) {
    sql += params.empty() ? "(?, ?)" : ", (?, ?)";
    params.push_back(d);
    params.push_back(now);
  }
  // One autocommit statement: the use must be visible before the caller
  // goes on to check the blob (gc.h).
  db.exec(sql + " ON CONFLICT (digest) DO UPDATE SET used = excluded.used", params);
}

static std::string random_token() {
  unsigned char b[8];
  if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) fail_errno("getrandom");
  std::string s;
  for (unsigned char c : b) s += fmt::format("{:02x}", c);
  return s;
}

namespace {

// Holds the gc_lock row for one run.
class GcLock {
 public:
  GcLock(Database& db, int64_t now) : db_(db), owner_(random_token()) {
    db_.transaction([&](Sql& sql) {
      auto rows = sql.query("SELECT owner, started FROM gc_lock WHERE name = 'gc'");
      if (!rows.empty() && rows[0].integer(1) > now - kStaleLockSeconds) {
        throw GcBusy(
            fmt::format("garbage collection: another run holds the lock since {} (unix time)", rows[0].integer(1)));
      }
      sql.exec("INSERT INTO gc_lock (name, owner, started) VALUES ('gc', ?, ?) "
               "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, started = excluded.started",
               {owner_, now});
    });
  }
  ~GcLock() {
    try {
      db_.exec("DELETE FROM gc_lock WHERE name = 'gc' AND owner = ?", {owner_});
    } catch (const std::exception&) {
      // Left behind, the row goes stale after kStaleLockSeconds.
    }
  }

 private:
  Database& db_;
  std::string owner_;
};

}  // namespace

// (repository, digest) of every manifest no tag keeps (gc.h's definition).
std::vector<std::pair<std::string, std::string>> GarbageCollector::untagged_manifests(int64_t cutoff) {
  struct Repo {
    std::map<std::string, std::string> subject;          // digest -> subject
    std::multimap<std::string, std::string> children;    // index -> child manifest
    std::multimap<std::string, std::string> referrers;   // subject -> referrer
    std::set<std::string> roots;
  };
  std::map<std::string, Repo> repos;
  std::set<std::string> used;
  for (const auto& r : db_.query("SELECT digest FROM blob_uses WHERE used >= ?", {cutoff})) used.insert(r.text(0));
  for (const auto& r : db_.query("SELECT repository, digest, subject, pushed FROM manifests")) {
    Repo& repo = repos[r.text(0)];
    std::string d = r.text(1);
    repo.subject[d] = r.text(2);
    if (!r.text(2).empty()) repo.referrers.emplace(r.text(2), d);
    if (r.integer(3) >= cutoff || used.count(d)) repo.roots.insert(d);
  }
  for (const auto& r : db_.query("SELECT repository, digest FROM tags")) repos[r.text(0)].roots.insert(r.text(1));
  for (const auto& r : db_.query("SELECT repository, digest, child FROM manifest_references WHERE is_manifest = 1")) {
    repos[r.text(0)].children.emplace(r.text(1), r.text(2));
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, repo] : repos) {
    std::set<std::string> kept;
    std::vector<std::string> todo(repo.roots.begin(), repo.roots.end());
    while (!todo.empty()) {
      std::string d = std::move(todo.back());
      todo.pop_back();
      if (!kept.insert(d).second) continue;
      for (auto [it, end] = repo.children.equal_range(d); it != end; ++it) todo.push_back(it->second);
      for (auto [it, end] = repo.referrers.equal_range(d); it != end; ++it) todo.push_back(it->second);
    }
    for (const auto& [d, subject] : repo.subject) {
      if (!kept.count(d)) out.emplace_back(name, d);
    }
  }
  return out;
}

// Deletes one manifest chosen by untagged_manifests unless, by now, a tag,
// an index, a recent use or a tagged subject keeps it (a push may have
// tagged it since). Parents go before children: a child of an index deleted
// in this run is retried after it. As for blobs (gc.h), a push that recorded
// its use of the manifest while this ran gets the rows back.
bool GarbageCollector::delete_manifest_if_untagged(const std::string& repo, const std::string& digest,
                                                   int64_t cutoff) {
  static constexpr const char* kKeep =
      "SELECT 1 FROM tags WHERE repository = ? AND digest = ? "
      "UNION ALL SELECT 1 FROM manifest_references WHERE repository = ? AND child = ? AND is_manifest = 1 "
      "UNION ALL SELECT 1 FROM blob_uses WHERE digest = ? AND used >= ? "
      "UNION ALL SELECT 1 FROM manifests WHERE repository = ? AND digest = ? AND pushed >= ? "
      "UNION ALL SELECT 1 FROM manifests m JOIN tags t ON t.repository = m.repository AND t.digest = m.subject "
      "WHERE m.repository = ? AND m.digest = ?";
  std::vector<SqlValue> keep_params{repo, digest, repo, digest, digest, cutoff, repo, digest, cutoff, repo, digest};
  std::vector<SqlRow> row, refs;
  db_.transaction([&](Sql& sql) {
    row.clear();
    refs.clear();
    if (!sql.query(kKeep, keep_params).empty()) return;
    row = sql.query("SELECT media_type, size, artifact_type, subject, annotations, pushed FROM manifests "
                    "WHERE repository = ? AND digest = ?",
                    {repo, digest});
    refs = sql.query("SELECT child, is_manifest FROM manifest_references WHERE repository = ? AND digest = ?",
                     {repo, digest});
    sql.exec("DELETE FROM manifests WHERE repository = ? AND digest = ?", {repo, digest});
    sql.exec("DELETE FROM manifest_references WHERE repository = ? AND digest = ?", {repo, digest});
  });
  if (row.empty()) return false;
  if (after_remove_for_test) after_remove_for_test(digest);
  if (db_.query("SELECT 1 FROM blob_uses WHERE digest = ? AND used >= ?", {digest, cutoff}).empty()) return true;
  db_.transaction([&](Sql& sql) {
    const SqlRow& m = row[0];
    sql.exec("INSERT INTO manifests (repository, digest, media_type, size, artifact_type, subject, annotations, "
             "pushed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO NOTHING",
             {repo, digest, m.text(0), m.integer(1), m.text(2), m.text(3), m.text(4), m.integer(5)});
    for (const auto& r : refs) {
      sql.exec("INSERT INTO manifest_references (repository, digest, child, is_manifest) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (repository, digest, child) DO NOTHING",
               {repo, digest, r.text(0), r.integer(1)});
    }
  });
  return false;
}

static bool referenced_or_used(Sql& sql, const std::string& digest, int64_t cutoff) {
  return !sql.query("SELECT 1 FROM manifests WHERE digest = ? "
                    "UNION ALL SELECT 1 FROM manifest_references WHERE child = ? "
                    "UNION ALL SELECT 1 FROM blob_uses WHERE digest = ? AND used >= ?",
                    {digest, digest, digest, cutoff})
              .empty();
}

bool GarbageCollector::sweep_blob(const Digest& d, int64_t cutoff, GcReport* report) {
  std::string digest = d.str();
  std::vector<std::pair<std::string, int64_t>> links;
  bool go = false;
  db_.transaction([&](Sql& sql) {
    links.clear();
    go = false;
    if (referenced_or_used(sql, digest, cutoff)) return;
    for (const auto& r : sql.query("SELECT repository, size FROM repository_blobs WHERE digest = ?", {digest})) {
      links.emplace_back(r.text(0), r.integer(1));
    }
    sql.exec("DELETE FROM repository_blobs WHERE digest = ?", {digest});
    go = true;
  });
  if (!go) return false;
  bool set_aside = blobs_.set_aside(d);
  if (after_remove_for_test) after_remove_for_test(digest);
  if (!referenced_or_used(db_, digest, cutoff)) {
    if (set_aside) blobs_.discard_set_aside(d);
    return true;
  }
  // A writer recorded its use after step 1 and may have found the file and
  // the links still there: give them back.
  if (set_aside) blobs_.restore_set_aside(d);
  for (const auto& [repo, size] : links) {
    db_.exec("INSERT INTO repository_blobs (repository, digest, size) VALUES (?, ?, ?) "
             "ON CONFLICT (repository, digest) DO NOTHING",
             {repo, digest, size});
  }
  ++report->blobs_restored;
  return false;
}

GcReport GarbageCollector::run(const GcOptions& o) {
  if (o.grace_seconds < 0) fail("garbage collection: grace period {} s is negative", o.grace_seconds);
  int64_t now = o.now_unix ? o.now_unix : unix_seconds_now();
  int64_t cutoff = now - o.grace_seconds;
  GcLock lock(db_, now);
  GcReport report;
  // Left by a collection that crashed between setting aside and deleting: judged again below.
  if (!o.dry_run) {
    for (const Digest& d : blobs_.set_aside_blobs()) blobs_.restore_set_aside(d);
  }

  std::set<std::pair<std::string, std::string>> doomed;  // manifests deleted (or, dry run, to be)
  if (o.delete_untagged) {
    auto todo = untagged_manifests(cutoff);
    if (o.dry_run) {
      doomed.insert(todo.begin(), todo.end());
    } else {
      // Retry children whose index went earlier in the same pass.
      for (bool progress = true; progress && !todo.empty();) {
        progress = false;
        std::vector<std::pair<std::string, std::string>> left;
        for (const auto& [repo, digest] : todo) {
          if (delete_manifest_if_untagged(repo, digest, cutoff)) {
            doomed.emplace(repo, digest);
            progress = true;
          } else {
            left.emplace_back(repo, digest);
          }
        }
        todo = std::move(left);
      }
    }
    report.manifests_deleted = static_cast<int64_t>(doomed.size());
  }

  // Mark.
  std::set<std::string> marked;
  for (const auto& r : db_.query("SELECT repository, digest FROM manifests")) {
    if (!doomed.count({r.text(0), r.text(1)})) marked.insert(r.text(1));
  }
  for (const auto& r : db_.query("SELECT repository, digest, child FROM manifest_references")) {
    if (!doomed.count({r.text(0), r.text(1)})) marked.insert(r.text(2));
  }
  for (const auto& r : db_.query("SELECT digest FROM blob_uses WHERE used >= ?", {cutoff})) marked.insert(r.text(0));

  // Sweep. The listing is taken first so the store is not changed under it.
  std::vector<Digest> candidates;
  blobs_.for_each([&](const Digest& d, uint64_t) {
    if (!marked.count(d.str())) candidates.push_back(d);
  });
  for (const Digest& d : candidates) {
    std::unique_ptr<BlobReader> reader = blobs_.open(d);
    if (!reader) continue;  // gone meanwhile
    if (reader->modified_unix() >= cutoff) continue;
    if (o.dry_run || sweep_blob(d, cutoff, &report)) {
      ++report.blobs_freed;
      report.bytes_freed += static_cast<int64_t>(reader->size());
      report.freed.push_back(d.str());
    }
  }
  std::sort(report.freed.begin(), report.freed.end());
  if (!o.dry_run) db_.exec("DELETE FROM blob_uses WHERE used < ?", {cutoff});
  return report;
}

PeriodicTask::PeriodicTask(std::chrono::seconds interval, std::function<void()> fn,
                           std::function<void(const std::exception&)> on_error) {
  thread_ = std::thread([this, interval, fn = std::move(fn), on_error = std::move(on_error)] {
    std::unique_lock lock(mu_);
    for (;;) {
      if (cv_.wait_for(lock, interval, [&] { return stop_; })) return;
      lock.unlock();
      try {
        fn();
      } catch (const std::exception& e) {
        on_error(e);
      }
      lock.lock();
    }
  });
}

PeriodicTask::~PeriodicTask() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace berth::hub
