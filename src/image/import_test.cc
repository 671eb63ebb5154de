#include "image/import.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "base/clock.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"
#include "image/test_util.h"

namespace berth::image {
namespace {

using berth::test::count_entries;
using berth::test::error_of;
using testing::build_tar;
using testing::Compression;
using testing::Stores;
using testing::TarEntry;
using testing::TempDir;

const std::vector<TarEntry> kRootfs = {{.name = "bin", .type = 'd', .mode = 0755},
                                       {.name = "bin/sh", .data = "#!static", .mode = 0755},
                                       {.name = "etc/hostname", .data = "box\n"}};

UniqueFd input(const TempDir& t, const std::string& bytes) {
  write_file(t / "input", bytes);
  return UniqueFd(::open((t / "input").c_str(), O_RDONLY | O_CLOEXEC));
}

// Nothing of an import is left in the stores.
void expect_empty(const std::string& root, Stores& s) {
  EXPECT_EQ(count_entries(root + "/content/blobs/sha256"), 0);
  EXPECT_EQ(count_entries(root + "/content/ingest"), 0);
  EXPECT_EQ(count_entries(root + "/snapshots"), 0);
  EXPECT_TRUE(s.images.list().empty());
}

TEST(Import, PlainTarBecomesOneLayerImage) {
  TempDir t;
  Stores s(t / "root");
  std::string tar = build_tar(kRootfs);
  UniqueFd fd = input(t, tar);
  ImportOptions o{.reference = "myimg", .changes = {"CMD [\"/bin/sh\"]", "ENV A=1"}};
  ImageRecord r = import_rootfs(s.content, s.snapshots, s.images, fd.get(), o);
  EXPECT_EQ(r.repo_tags, std::vector<std::string>{"myimg:latest"});
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[0].digest, sha256_of(tar));  // stored exactly as received
  EXPECT_EQ(r.layers[0].media_type, "application/vnd.docker.image.rootfs.diff.tar");
  EXPECT_EQ(r.layers[0].size, tar.size());
  EXPECT_EQ(r.diff_ids, std::vector<Digest>{sha256_of(tar)});
  EXPECT_EQ(s.content.read(r.layers[0].digest), tar);
  EXPECT_EQ(read_file(s.snapshots.fs_path(r.chain_ids()[0]) + "/etc/hostname"), "box\n");

  nlohmann::json c = s.images.config(r.id);
  EXPECT_EQ(c["config"], nlohmann::json({{"Cmd", {"/bin/sh"}}, {"Env", {"A=1"}}}));
  EXPECT_EQ(c["architecture"], host_architecture());
  EXPECT_EQ(c["os"], "linux");
  EXPECT_EQ(c["comment"], "Imported from -");
  EXPECT_EQ(c["rootfs"], nlohmann::json({{"type", "layers"}, {"diff_ids", {sha256_of(tar).str()}}}));
  ASSERT_EQ(c["history"].size(), 1u);
  EXPECT_EQ(c["history"][0]["comment"], "Imported from -");
  EXPECT_EQ(c["history"][0]["created"], c["created"]);
  EXPECT_FALSE(c["history"][0].contains("created_by"));
  long long ns;
  EXPECT_TRUE(parse_rfc3339_nano(c["created"].get<std::string>(), &ns));
  // The ID is the digest of the config bytes as stored.
  EXPECT_EQ(sha256_of(s.content.read(r.id)), r.id);
  EXPECT_EQ(s.images.resolve("myimg").id, r.id);
}

TEST(Import, CompressedInputKeepsItsBytesAndType) {
  TempDir t;
  Stores s(t / "root");
  std::string plain = build_tar(kRootfs);
  for (auto [c, type] : {std::pair{Compression::gzip, "application/vnd.docker.image.rootfs.diff.tar.gzip"},
                         std::pair{Compression::zstd, "application/vnd.oci.image.layer.v1.tar+zstd"}}) {
    std::string bytes = build_tar(kRootfs, c);
    UniqueFd fd = input(t, bytes);
    ImageRecord r = import_rootfs(s.content, s.snapshots, s.images, fd.get(), {.message = "from a tarball"});
    EXPECT_EQ(r.layers[0].digest, sha256_of(bytes));
    EXPECT_EQ(r.layers[0].media_type, type);
    EXPECT_EQ(r.diff_ids[0], sha256_of(plain));  // diff_id: the uncompressed tar
    EXPECT_TRUE(r.repo_tags.empty());
    EXPECT_EQ(s.images.config(r.id)["comment"], "from a tarball");
  }
  // Both imports share one snapshot (same diff_id), each keeps its own blob.
  EXPECT_EQ(count_entries(t / "root/snapshots"), 1);
  EXPECT_EQ(s.images.list().size(), 2u);
}

TEST(Import, ReadsFromAPipe) {
  TempDir t;
  Stores s(t / "root");
  std::string tar = build_tar(kRootfs, Compression::gzip);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  std::thread writer([&] {
    size_t off = 0;
    while (off < tar.size()) {
      ssize_t n = ::write(p[1], tar.data() + off, tar.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(p[1]);
  });
  ImageRecord r = import_rootfs(s.content, s.snapshots, s.images, p[0], {.reference = "piped:1"});
  writer.join();
  ::close(p[0]);
  EXPECT_EQ(r.layers[0].digest, sha256_of(tar));
  EXPECT_EQ(r.repo_tags, std::vector<std::string>{"piped:1"});
}

TEST(Import, BadTarLeavesNothing) {
  TempDir t;
  Stores s(t / "root");
  UniqueFd fd = input(t, std::string(2048, 'x'));
  std::string err = error_of([&] { import_rootfs(s.content, s.snapshots, s.images, fd.get(), {}); });
  EXPECT_TRUE(err.starts_with("import: layer sha256:")) << err;
  expect_empty(t / "root", s);
}

TEST(Import, EscapingEntryLeavesNothing) {
  TempDir t;
  Stores s(t / "root");
  UniqueFd fd = input(t, build_tar({{.name = "ok", .data = "1"}, {.name = "../../escape", .data = "x"}}));
  std::string err = error_of([&] { import_rootfs(s.content, s.snapshots, s.images, fd.get(), {.reference = "x"}); });
  EXPECT_NE(err.find("entry ../../escape: escapes the root"), std::string::npos) << err;
  EXPECT_FALSE(path_exists(t / "escape"));
  expect_empty(t / "root", s);
}

TEST(Import, BadChangeOrReferenceFailsBeforeReading) {
  TempDir t;
  Stores s(t / "root");
  UniqueFd fd = input(t, build_tar(kRootfs));
  EXPECT_EQ(error_of([&] { import_rootfs(s.content, s.snapshots, s.images, fd.get(), {.changes = {"RUN make"}}); }),
            "import: RUN is not a valid change command");
  EXPECT_EQ(error_of([&] { import_rootfs(s.content, s.snapshots, s.images, fd.get(), {.reference = "Bad"}); }),
            "import: invalid reference format: repository name must be lowercase");
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 0);  // input untouched
  EXPECT_EQ(count_entries(t / "root/content/blobs/sha256"), 0);
  EXPECT_TRUE(s.images.list().empty());
}

TEST(Import, XzInputIsRefusedCleanly) {
  TempDir t;
  Stores s(t / "root");
  UniqueFd fd = input(t, std::string("\xfd" "7zXZ", 5) + std::string(100, '\0'));
  EXPECT_NE(error_of([&] { import_rootfs(s.content, s.snapshots, s.images, fd.get(), {}); }).find("xz"),
            std::string::npos);
  EXPECT_EQ(count_entries(t / "root/content/blobs/sha256"), 0);
}

}  // namespace
}  // namespace berth::image
