#include "hub/gc.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/test_util.h"
#include "hub/metadata.h"
#include "hub/policies.h"

namespace berth::hub {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

int64_t clock_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class GcTest : public ::testing::Test {
 protected:
  GcTest() : db_(open_database(dir_ / "hub.db")), meta_(*db_), blobs_(dir_ / "root"), gc_(*db_, blobs_) {
    meta_.migrate();
    migrate_gc(*db_);
  }

  // A blob stored and linked to repo, as a finished upload leaves it.
  std::string blob(const std::string& repo, const std::string& content) {
    Digest d = image::sha256_of(content);
    blobs_.put(d, content);
    meta_.link_blob(repo, d.str(), static_cast<int64_t>(content.size()));
    return d.str();
  }
  // A manifest (its own bytes stored) referencing refs, optionally tagged.
  std::string manifest(const std::string& repo, const std::string& content, const std::vector<ManifestReference>& refs,
                       const std::string& tag, int64_t pushed, const std::string& subject = "") {
    Digest d = image::sha256_of(content);
    blobs_.put(d, content);
    meta_.put_manifest(repo,
                       ManifestRecord{.digest = d.str(),
                                      .media_type = "application/vnd.oci.image.manifest.v1+json",
                                      .size = static_cast<int64_t>(content.size()),
                                      .subject = subject,
                                      .pushed_unix = pushed},
                       refs, tag);
    return d.str();
  }
  bool stored(const std::string& digest) { return blobs_.size(Digest::parse(digest)).has_value(); }
  // Backdates a blob's file, as if committed `age` seconds ago.
  void age(const std::string& digest, int64_t seconds) {
    std::string hex = digest.substr(7);
    std::string path = dir_ / ("root/blobs/sha256/" + hex.substr(0, 2) + "/" + hex);
    timeval tv[2] = {{clock_now() - seconds, 0}, {clock_now() - seconds, 0}};
    ASSERT_EQ(::utimes(path.c_str(), tv), 0) << path;
  }
  GcReport run(int64_t now, bool delete_untagged = false, bool dry_run = false) {
    return gc_.run(GcOptions{.dry_run = dry_run, .delete_untagged = delete_untagged, .grace_seconds = 3600,
                             .now_unix = now});
  }

  test::TempDir dir_;
  std::unique_ptr<Database> db_;
  Metadata meta_;
  FileBlobStore blobs_;
  GarbageCollector gc_;
};

constexpr int64_t kHour = 3600;

TEST_F(GcTest, SweepsExactlyTheUnreferencedBlobsOnceOld) {
  std::string layer = blob("acme/app", "layer bytes");
  std::string config = blob("acme/app", "config");
  std::string orphan = blob("acme/app", "orphan bytes!");
  std::string m = manifest("acme/app", "manifest-1", {{layer, false}, {config, false}}, "v1", clock_now() - 2 * kHour);

  GcReport r = run(clock_now() + 2 * kHour);
  EXPECT_THAT(r.freed, ElementsAre(orphan));
  EXPECT_EQ(r.blobs_freed, 1);
  EXPECT_EQ(r.bytes_freed, 13);
  EXPECT_FALSE(stored(orphan));
  EXPECT_TRUE(stored(layer) && stored(config) && stored(m));
  EXPECT_FALSE(meta_.linked_blob_size("acme/app", orphan));
  EXPECT_TRUE(meta_.linked_blob_size("acme/app", layer));
}

TEST_F(GcTest, ABlobReferencedFromAnotherRepositoryIsKept) {
  std::string shared = blob("acme/a", "shared");
  meta_.link_blob("acme/b", shared, 6);
  manifest("acme/b", "m", {{shared, false}}, "", clock_now() - 2 * kHour);
  EXPECT_EQ(run(clock_now() + 2 * kHour).blobs_freed, 0);
  EXPECT_TRUE(stored(shared));
  EXPECT_TRUE(meta_.linked_blob_size("acme/a", shared));
}

TEST_F(GcTest, ABlobCommittedAMomentAgoButNotLinkedSurvives) {
  Digest d = image::sha256_of("just committed");
  blobs_.put(d, "just committed");  // commit_upload done, link_blob not yet
  EXPECT_EQ(run(clock_now()).blobs_freed, 0);
  EXPECT_TRUE(stored(d.str()));
  // Once older than the grace period it is garbage.
  EXPECT_THAT(run(clock_now() + 2 * kHour).freed, ElementsAre(d.str()));
  EXPECT_FALSE(stored(d.str()));
}

TEST_F(GcTest, ABlobLinkedRecentlyButUnreferencedSurvivesTheGracePeriodOnly) {
  // The bytes were already there (old file); a push linked them again now and
  // its manifest has not arrived yet.
  std::string b = blob("acme/app", "reused layer");
  age(b, 10 * kHour);
  Policies policies(*db_, meta_);
  policies.migrate();
  policies.admit_blob("acme/app", b, 12);  // records the use, as finish_upload does

  EXPECT_EQ(run(clock_now() + kHour / 2).blobs_freed, 0);
  EXPECT_TRUE(stored(b));
  EXPECT_TRUE(meta_.linked_blob_size("acme/app", b));

  EXPECT_THAT(run(clock_now() + 2 * kHour).freed, ElementsAre(b));
  EXPECT_FALSE(stored(b));
  EXPECT_FALSE(meta_.linked_blob_size("acme/app", b));
}

TEST_F(GcTest, AWriterThatRecordsItsUseDuringTheSweepGetsTheBlobBack) {
  std::string b = blob("acme/app", "contended layer");
  age(b, 10 * kHour);
  int64_t now = clock_now();
  // The writer (say a PUT manifest) recorded its use and saw the link just
  // before GC deleted it, and inserts its manifest while the file is gone.
  gc_.after_remove_for_test = [&](const std::string& digest) {
    EXPECT_FALSE(stored(digest));
    record_blob_use(*db_, {digest}, now);
    manifest("acme/app", "late manifest", {{digest, false}}, "latest", now);
  };
  GcReport r = run(now);
  gc_.after_remove_for_test = nullptr;
  EXPECT_EQ(r.blobs_freed, 0);
  EXPECT_EQ(r.blobs_restored, 1);
  ASSERT_TRUE(stored(b));
  EXPECT_EQ(*blobs_.size(Digest::parse(b)), 15u);
  EXPECT_TRUE(meta_.linked_blob_size("acme/app", b)) << "the links GC deleted come back";
}

TEST_F(GcTest, BlobsACrashedCollectionLeftSetAsideAreJudgedAgain) {
  std::string kept = blob("acme/app", "kept layer");
  manifest("acme/app", "manifest", {{kept, false}}, "latest", clock_now());
  std::string orphan = blob("acme/app", "orphan layer");
  age(kept, 10 * kHour);
  age(orphan, 10 * kHour);
  // The crash came after step 2 for both.
  ASSERT_TRUE(blobs_.set_aside(Digest::parse(kept)));
  ASSERT_TRUE(blobs_.set_aside(Digest::parse(orphan)));
  EXPECT_FALSE(stored(kept));
  EXPECT_THAT(run(clock_now()).freed, ElementsAre(orphan));
  EXPECT_TRUE(stored(kept)) << "a referenced blob comes back";
  EXPECT_FALSE(stored(orphan));
  EXPECT_TRUE(blobs_.set_aside_blobs().empty());
}

TEST_F(GcTest, AWriterThatLooksAfterTheSweepFindsNoLink) {
  std::string b = blob("acme/app", "gone layer");
  age(b, 10 * kHour);
  EXPECT_EQ(run(clock_now()).blobs_freed, 1);
  // What put_manifest's validation reads: the blob is unknown, so the push
  // fails cleanly instead of recording a manifest without its blob.
  EXPECT_FALSE(meta_.linked_blob_size("acme/app", b));
}

TEST_F(GcTest, DryRunReportsWithoutChangingAnything) {
  std::string orphan = blob("acme/app", "orphan");
  std::string untagged_layer = blob("acme/app", "untagged layer");
  std::string m = manifest("acme/app", "untagged", {{untagged_layer, false}}, "", clock_now() - 2 * kHour);
  GcReport r = run(clock_now() + 2 * kHour, /*delete_untagged=*/true, /*dry_run=*/true);
  EXPECT_EQ(r.manifests_deleted, 1);
  EXPECT_THAT(r.freed, UnorderedElementsAre(orphan, untagged_layer, m));
  EXPECT_TRUE(stored(orphan) && stored(untagged_layer) && stored(m));
  EXPECT_TRUE(meta_.manifest("acme/app", m));
  EXPECT_TRUE(meta_.linked_blob_size("acme/app", orphan));
}

TEST_F(GcTest, DeleteUntaggedKeepsWhatTagsReach) {
  int64_t old = clock_now() - 2 * kHour;
  std::string l1 = blob("r/x", "l1"), l2 = blob("r/x", "l2"), l3 = blob("r/x", "l3"), l4 = blob("r/x", "l4"),
              l5 = blob("r/x", "l5"), l6 = blob("r/x", "l6");
  std::string tagged = manifest("r/x", "tagged", {{l1, false}}, "v1", old);
  std::string untagged = manifest("r/x", "untagged", {{l2, false}}, "", old);
  std::string child = manifest("r/x", "child", {{l3, false}}, "", old);
  std::string idx = manifest("r/x", "index", {{child, true}}, "multi", old);
  std::string signature = manifest("r/x", "sig", {{l4, false}}, "", old, tagged);
  std::string orphan_sig = manifest("r/x", "sig of untagged", {{l5, false}}, "", old, untagged);
  std::string fresh = manifest("r/x", "fresh", {{l6, false}}, "", clock_now() + 2 * kHour);

  GcReport r = run(clock_now() + 2 * kHour, /*delete_untagged=*/true);
  EXPECT_EQ(r.manifests_deleted, 2);
  EXPECT_FALSE(meta_.manifest("r/x", untagged));
  EXPECT_FALSE(meta_.manifest("r/x", orphan_sig));
  for (const auto& kept : {tagged, child, idx, signature, fresh}) EXPECT_TRUE(meta_.manifest("r/x", kept)) << kept;
  EXPECT_THAT(r.freed, UnorderedElementsAre(untagged, orphan_sig, l2, l5));
}

TEST_F(GcTest, DeleteUntaggedTakesAnUntaggedIndexWithItsChildren) {
  int64_t old = clock_now() - 2 * kHour;
  std::string l = blob("r/x", "layer");
  std::string child = manifest("r/x", "child", {{l, false}}, "", old);
  std::string idx = manifest("r/x", "index", {{child, true}}, "", old);
  GcReport r = run(clock_now() + 2 * kHour, /*delete_untagged=*/true);
  EXPECT_EQ(r.manifests_deleted, 2);
  EXPECT_THAT(r.freed, UnorderedElementsAre(l, child, idx));
}

TEST_F(GcTest, AnUntaggedManifestAPushUsesDuringDeletionComesBack) {
  int64_t old = clock_now() - 2 * kHour;
  std::string l = blob("r/x", "layer");
  std::string child = manifest("r/x", "child", {{l, false}}, "", old);
  // An index naming the child is being pushed: it records the child's use
  // just after GC deleted the rows, then finds it (autocommit on PostgreSQL).
  gc_.after_remove_for_test = [&](const std::string& digest) {
    if (digest == child) record_blob_use(*db_, {child}, clock_now() + 2 * kHour);
  };
  GcReport r = run(clock_now() + 2 * kHour, /*delete_untagged=*/true);
  gc_.after_remove_for_test = nullptr;
  EXPECT_EQ(r.manifests_deleted, 0);
  auto m = meta_.manifest("r/x", child);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->pushed_unix, old);
  EXPECT_TRUE(stored(child) && stored(l)) << "its blobs are marked again";
  EXPECT_EQ(r.blobs_freed, 0);
}

TEST_F(GcTest, OneRunAtATime) {
  db_->exec("INSERT INTO gc_lock (name, owner, started) VALUES ('gc', 'other', ?)", {clock_now()});
  try {
    run(clock_now());
    FAIL() << "expected the lock to refuse";
  } catch (const GcBusy& e) {
    EXPECT_THAT(e.what(), HasSubstr("holds the lock"));
  }
  // A lock left by a run that died long ago is taken over.
  db_->exec("UPDATE gc_lock SET started = ?", {clock_now() - 7 * kHour});
  EXPECT_NO_THROW(run(clock_now()));
  EXPECT_TRUE(db_->query("SELECT 1 FROM gc_lock").empty()) << "released after the run";
}

}  // namespace
}  // namespace berth::hub
