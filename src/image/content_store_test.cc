#include "image/content_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <thread>

#include "base/error.h"
#include "base/fs.h"
#include "image/test_util.h"
#include "base/test_util.h"

namespace berth::image {
namespace {

using berth::test::count_entries;

TEST(ContentStore, IngestBytesThenReadSizeOpenListRemove) {
  testing::TempDir t;
  ContentStore cs(t.path());
  Digest d = sha256_of("hello");
  EXPECT_FALSE(cs.exists(d));
  cs.ingest_bytes("hello", d);
  EXPECT_TRUE(cs.exists(d));
  EXPECT_EQ(cs.blob_path(d), t / ("content/blobs/sha256/" + std::string(d.hex())));
  EXPECT_EQ(read_file(cs.blob_path(d)), "hello");
  EXPECT_EQ(cs.size(d), 5u);
  EXPECT_EQ(cs.read(d), "hello");
  UniqueFd fd = cs.open(d);
  EXPECT_EQ(read_fd(fd.get(), "blob"), "hello");
  Digest d2 = cs.put("world");
  EXPECT_EQ(d2, sha256_of("world"));
  std::vector<Digest> want{d, d2};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(cs.list(), want);
  EXPECT_TRUE(cs.remove(d));
  EXPECT_FALSE(cs.remove(d));
  EXPECT_FALSE(cs.exists(d));
  EXPECT_THROW(cs.read(d), Error);
  EXPECT_THROW(cs.size(d), Error);
  EXPECT_EQ(cs.list(), std::vector<Digest>{d2});
  EXPECT_EQ(count_entries(t / "content/ingest"), 0);
}

TEST(ContentStore, IngestFromFileAndFd) {
  testing::TempDir t;
  ContentStore cs(t / "store");
  std::string big(3 << 20, 'x');
  big += "tail";
  write_file(t / "src", big);
  Digest d = sha256_of(big);
  cs.ingest_file(t / "src", d);
  EXPECT_EQ(cs.read(d), big);
  cs.remove(d);
  UniqueFd fd(::open((t / "src").c_str(), O_RDONLY));
  cs.ingest_fd(fd.get(), d);
  EXPECT_EQ(cs.size(d), big.size());
}

TEST(ContentStore, PutFdNamesBlobByItsDigest) {
  testing::TempDir t;
  ContentStore cs(t / "store");
  std::string data(200000, 'y');
  write_file(t / "src", data);
  UniqueFd fd(::open((t / "src").c_str(), O_RDONLY));
  bool added = false;
  Digest d = cs.put_fd(fd.get(), &added);
  EXPECT_EQ(d, sha256_of(data));
  EXPECT_TRUE(added);
  EXPECT_EQ(cs.read(d), data);
  UniqueFd again(::open((t / "src").c_str(), O_RDONLY));
  EXPECT_EQ(cs.put_fd(again.get(), &added), d);
  EXPECT_FALSE(added);
  EXPECT_EQ(count_entries(t / "store/content/blobs/sha256"), 1);
  EXPECT_EQ(count_entries(t / "store/content/ingest"), 0);
}

TEST(ContentStore, MismatchLeavesNothingBehind) {
  testing::TempDir t;
  ContentStore cs(t.path());
  Digest want = sha256_of("expected");
  try {
    cs.ingest_bytes("actual", want);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "blob " + want.str() + ": digest mismatch (got " + sha256_of("actual").str() + ")");
  }
  EXPECT_FALSE(cs.exists(want));
  EXPECT_EQ(count_entries(t / "content/blobs/sha256"), 0);
  EXPECT_EQ(count_entries(t / "content/ingest"), 0);
}

TEST(ContentStore, ConcurrentWritersOfSameBlob) {
  testing::TempDir t;
  ContentStore cs(t.path());
  std::string data(1 << 20, 'z');
  Digest d = sha256_of(data);
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      try {
        ContentStore mine(t.path());
        for (int k = 0; k < 5; ++k) mine.ingest_bytes(data, d);
      } catch (...) {
        ++errors;
      }
    });
  // A reader during the storm only ever sees the whole blob.
  for (int k = 0; k < 50; ++k)
    if (cs.exists(d)) {
      EXPECT_EQ(cs.read(d).size(), data.size());
    }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(cs.read(d), data);
  EXPECT_EQ(count_entries(t / "content/blobs/sha256"), 1);
  EXPECT_EQ(count_entries(t / "content/ingest"), 0);
}

TEST(BlobWriter, ResumesFromPartialBytesLeftByAnInterruptedAttempt) {
  testing::TempDir t;
  ContentStore cs(t.path());
  Digest d = sha256_of("hello world");
  {
    auto w = cs.open_writer(d);
    EXPECT_EQ(w->offset(), 0u);
    w->write("hello ");
  }  // interrupted: partial bytes stay
  EXPECT_FALSE(cs.exists(d));
  auto w = cs.open_writer(d);
  EXPECT_EQ(w->offset(), 6u);
  UniqueFd prefix = w->reopen_partial();
  EXPECT_EQ(read_fd(prefix.get(), "partial"), "hello ");
  w->write("world");
  w->commit();
  EXPECT_EQ(cs.read(d), "hello world");
  EXPECT_EQ(count_entries(t / "content/ingest"), 0);
}

TEST(BlobWriter, MismatchThrowsAndLeavesNothingToResume) {
  testing::TempDir t;
  ContentStore cs(t.path());
  Digest d = sha256_of("expected");
  auto w = cs.open_writer(d);
  w->write("something else");
  try {
    w->commit();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "blob " + d.str() + ": digest mismatch (got " + sha256_of("something else").str() + ")");
  }
  EXPECT_FALSE(cs.exists(d));
  EXPECT_EQ(count_entries(t / "content/ingest"), 0);
  EXPECT_EQ(cs.open_writer(d)->offset(), 0u);
}

TEST(BlobWriter, SecondWriterWaitsAndSeesTheFirstOnesResult) {
  testing::TempDir t;
  ContentStore cs(t.path());
  Digest d = sha256_of("abc");
  auto first = cs.open_writer(d);
  first->write("ab");
  std::thread other([&] {
    auto second = cs.open_writer(d);  // blocks until first is gone
    EXPECT_EQ(second->offset(), 0u);  // first committed: a fresh file
    second->write("abc");
    second->commit();
  });
  first->write("c");
  first->commit();
  first.reset();
  other.join();
  EXPECT_EQ(cs.read(d), "abc");
}

}  // namespace
}  // namespace berth::image
