#include "image/snapshots.h"

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

using testing::build_tar;
using testing::Compression;
using testing::TempDir;

// Fixed vectors computed outside this code (sha256sum in a shell):
// diff ids are sha256 of "a", "b", "c".
const char kA[] = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
const char kB[] = "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
const char kC[] = "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6";

TEST(ChainId, FollowsOciDefinition) {
  auto ids = chain_ids({Digest::parse(kA), Digest::parse(kB), Digest::parse(kC)});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].str(), kA);  // ChainID(L0) = DiffID(L0)
  EXPECT_EQ(ids[1].str(), "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676");
  EXPECT_EQ(ids[2].str(), "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106");
  EXPECT_EQ(chain_id(ids[1], Digest::parse(kC)), ids[2]);
  EXPECT_EQ(chain_id(std::nullopt, Digest::parse(kB)).str(), kB);
}

using berth::test::count_entries;

UniqueFd fd_of(const TempDir& t, const std::string& name, const std::string& bytes) {
  write_file(t / name, bytes);
  return UniqueFd(::open((t / name).c_str(), O_RDONLY));
}

TEST(Snapshots, PrepareChainIdempotentRemove) {
  TempDir t;
  SnapshotStore s(t / "root");
  std::string l0 = build_tar({{.name = "etc/os-release", .data = "base"}});
  std::string l1 = build_tar({{.name = "app", .data = "app"}}, Compression::gzip);
  Digest d0 = sha256_of(l0);
  Digest d1 = sha256_of(build_tar({{.name = "app", .data = "app"}}));  // diff_id: of the uncompressed tar
  UniqueFd f0 = fd_of(t, "l0", l0);
  Digest c0 = s.prepare(std::nullopt, d0, f0.get());
  EXPECT_EQ(c0, d0);
  UniqueFd f1 = fd_of(t, "l1", l1);
  Digest c1 = s.prepare(c0, d1, f1.get());
  EXPECT_EQ(c1, chain_id(c0, d1));
  EXPECT_EQ(s.fs_path(c1), t / ("root/snapshots/" + std::string(c1.hex()) + "/fs"));
  EXPECT_EQ(read_file(s.fs_path(c0) + "/etc/os-release"), "base");
  EXPECT_EQ(read_file(s.fs_path(c1) + "/app"), "app");
  EXPECT_NE(read_file(s.dir(c1) + "/meta.json").find(c0.str()), std::string::npos);
  // Idempotent: an existing snapshot does not read the stream at all.
  UniqueFd again = fd_of(t, "again", l0);
  EXPECT_EQ(s.prepare(std::nullopt, d0, again.get()), c0);
  char byte;
  EXPECT_EQ(::read(again.get(), &byte, 1), 1);
  std::vector<Digest> both{c0, c1};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(s.list(), both);
  EXPECT_EQ(s.lowerdir_string({c0, c1}), s.fs_path(c1) + ":" + s.fs_path(c0));
  EXPECT_TRUE(s.remove(c1));
  EXPECT_FALSE(s.remove(c1));
  EXPECT_FALSE(s.exists(c1));
  EXPECT_EQ(s.list(), std::vector<Digest>{c0});
  EXPECT_THROW(s.lowerdir_string({c0, c1}), Error);
  EXPECT_EQ(count_entries(t / "root/snapshots"), 1);
}

TEST(Snapshots, DiffIdMismatchAndBadLayerLeaveNothing) {
  TempDir t;
  SnapshotStore s(t / "root");
  std::string l0 = build_tar({{.name = "f", .data = "x"}});
  UniqueFd f = fd_of(t, "l0", l0);
  Digest wrong = sha256_of("other");
  try {
    s.prepare(std::nullopt, wrong, f.get());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "layer " + wrong.short_str() + ": diff_id mismatch: expected " + wrong.str() +
                                         ", got " + sha256_of(l0).str());
  }
  UniqueFd g = fd_of(t, "bad", build_tar({{.name = "../x", .data = "x"}}));
  EXPECT_THROW(s.prepare(std::nullopt, wrong, g.get()), Error);
  EXPECT_EQ(count_entries(t / "root/snapshots"), 0);
  EXPECT_FALSE(path_exists(t / "root/x"));
}

TEST(Snapshots, PrepareUnknownComputesDiffId) {
  TempDir t;
  SnapshotStore s(t / "root");
  std::string plain = build_tar({{.name = "etc/hostname", .data = "box"}});
  UniqueFd f = fd_of(t, "l0", build_tar({{.name = "etc/hostname", .data = "box"}}, Compression::gzip));
  bool added = false;
  SnapshotStore::Prepared p = s.prepare_unknown(std::nullopt, f.get(), {}, &added);
  EXPECT_TRUE(added);
  EXPECT_EQ(p.digests.diff_id, sha256_of(plain));
  EXPECT_EQ(p.chain_id, sha256_of(plain));
  EXPECT_EQ(read_file(s.fs_path(p.chain_id) + "/etc/hostname"), "box");
  EXPECT_EQ(s.tar_size(p.chain_id), plain.size());
  // Same content again: the existing snapshot stays, the copy is discarded.
  UniqueFd g = fd_of(t, "l0b", plain);
  SnapshotStore::Prepared q = s.prepare_unknown(std::nullopt, g.get(), {}, &added);
  EXPECT_FALSE(added);
  EXPECT_EQ(q.chain_id, p.chain_id);
  EXPECT_EQ(count_entries(t / "root/snapshots"), 1);
  // A child layer is named by its chain id.
  UniqueFd h = fd_of(t, "l1", build_tar({{.name = "app", .data = "1"}}));
  SnapshotStore::Prepared c = s.prepare_unknown(p.chain_id, h.get());
  EXPECT_EQ(c.chain_id, chain_id(p.chain_id, c.digests.diff_id));
  UniqueFd bad = fd_of(t, "bad", "this is not a tar archive at all, just text that goes on" + std::string(600, 'x'));
  EXPECT_THROW(s.prepare_unknown(std::nullopt, bad.get()), Error);
  EXPECT_EQ(count_entries(t / "root/snapshots"), 2);
  EXPECT_EQ(s.tar_size(sha256_of("nope")), std::nullopt);
}

TEST(Snapshots, ConcurrentPrepareOfSameLayer) {
  TempDir t;
  std::string l0 = build_tar({{.name = "big", .data = std::string(1 << 20, 'q')}}, Compression::zstd);
  Digest d0 = sha256_of(build_tar({{.name = "big", .data = std::string(1 << 20, 'q')}}));
  write_file(t / "l0", l0);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&] {
      try {
        SnapshotStore s(t / "root");
        UniqueFd fd(::open((t / "l0").c_str(), O_RDONLY));
        s.prepare(std::nullopt, d0, fd.get());
      } catch (...) {
        ++errors;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  SnapshotStore s(t / "root");
  EXPECT_EQ(read_file(s.fs_path(d0) + "/big").size(), 1u << 20);
  EXPECT_EQ(count_entries(t / "root/snapshots"), 1);
}

}  // namespace
}  // namespace berth::image
