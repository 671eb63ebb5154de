// GarbageCollector: online mark-and-sweep of berth-hub's blob store, run
// while pushes and pulls go on (no read-only window, unlike distribution's).
//
// Contract:
// - Marked (kept): every manifest's own digest and everything any manifest
//   references, in any repository; and every blob "used" within the grace
//   period (default 1 h): record_blob_use() is called when an upload
//   finishes, a blob is mounted or a manifest names it (hub/policies.h,
//   from the registry API), so blobs whose manifest has not arrived yet
//   survive. A blob is swept only when unmarked AND its file is older than
//   the grace period (a blob committed a moment ago survives even if
//   nothing recorded its use). Sweeping removes the file and the blob's
//   repository_blobs links.
// - delete_untagged first deletes manifests that no tag keeps: a manifest
//   is kept when tagged, pushed or used within the grace period, listed by a
//   kept index, or a referrer (signature, SBOM) whose subject is kept.
// - dry_run reports what would go and changes nothing.
// - One collection at a time across replicas (a lock row in gc_lock; a run
//   older than 6 h is presumed dead and its lock taken over).
//
// Why concurrent pushes are safe. Writers record the use of a digest BEFORE
// they look at it (finish_upload: use, then "is the file there?", then link;
// PUT manifest: use of every reference, then "is it linked?", then insert).
// The sweep of one blob is: (1) in one transaction, re-check that no
// manifest references it and no use is recent, and delete its links;
// (2) set the blob aside (BlobStore::set_aside: out of sight, not yet
// deleted); (3) re-read uses and references, then delete it for good.
// A writer racing with this either looks after (1)/(2) — it finds no link
// (the PUT fails with MANIFEST_BLOB_UNKNOWN and the client re-uploads) or no
// file (the upload commits its own copy) — or it recorded its use before
// (3), and then (3) sees that use and puts the blob and the deleted links
// back. Both cannot miss each other, because each writes first and reads
// second. A blob a crash left set aside is put back when the next
// collection starts, and judged again. Untagged manifests are deleted the
// same way (check and delete in one transaction, then re-read uses and put
// the rows back), since a PUT of an index records its children's use before
// checking they exist. The re-reads matter on PostgreSQL, where a writer's
// autocommit statements can interleave with GC's transaction; on SQLite the
// transaction holds the write lock, so a writer's use record waits for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "hub/blob_store.h"
#include "hub/sql.h"

namespace berth::hub {

// Creates GC's tables (blob_uses, gc_lock); idempotent.
void migrate_gc(Database& db);

// Records that digests are being put to use at now_unix (0: the clock).
void record_blob_use(Database& db, const std::vector<std::string>& digests, int64_t now_unix = 0);

struct GcOptions {
  bool dry_run = false;
  bool delete_untagged = false;
  int64_t grace_seconds = 3600;
  int64_t now_unix = 0;  // 0: the clock (tests move time forward)
};

struct GcReport {
  int64_t manifests_deleted = 0;
  int64_t blobs_freed = 0;
  int64_t bytes_freed = 0;
  int64_t blobs_restored = 0;  // swept, then given back to a racing writer
  std::vector<std::string> freed;  // digests, sorted
};

// Thrown by GarbageCollector::run while another collection holds the lock.
class GcBusy : public Error {
 public:
  using Error::Error;
};

class GarbageCollector {
 public:
  GarbageCollector(Database& db, BlobStore& blobs) : db_(db), blobs_(blobs) {}
  // Throws GcBusy when another collection holds the lock.
  GcReport run(const GcOptions& o);

  // Test hook: called between setting a blob aside (or deleting an untagged
  // manifest's rows) and re-checking uses (step 2 and 3 above), to stage a
  // racing writer.
  std::function<void(const std::string& digest)> after_remove_for_test;

 private:
  std::vector<std::pair<std::string, std::string>> untagged_manifests(int64_t cutoff);
  bool delete_manifest_if_untagged(const std::string& repo, const std::string& digest, int64_t cutoff);
  bool sweep_blob(const Digest& d, int64_t cutoff, GcReport* report);

  Database& db_;
  BlobStore& blobs_;
};

// Runs fn every interval on a thread of its own until destroyed; an
// exception from fn is reported through on_error and the loop goes on.
class PeriodicTask {
 public:
  PeriodicTask(std::chrono::seconds interval, std::function<void()> fn,
               std::function<void(const std::exception&)> on_error);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace berth::hub
