#include "build/copy_sources.h"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"

namespace berth::build {
namespace {

using berth::test::error_of;
using berth::test::TempDir;

// A build context in a temporary directory.
class Context {
 public:
  const std::string& root() const { return dir_.path(); }
  std::string path(const std::string& rel) const { return dir_ / rel; }

  void file(const std::string& rel, const std::string& data, mode_t mode = 0644) const {
    make_parent(rel);
    write_file(path(rel), data, mode);
    ::chmod(path(rel).c_str(), mode);  // umask-proof
  }
  void dir(const std::string& rel, mode_t mode = 0755) const {
    mkdir_all(path(rel));
    ::chmod(path(rel).c_str(), mode);
  }
  void symlink(const std::string& rel, const std::string& target) const {
    make_parent(rel);
    if (::symlink(target.c_str(), path(rel).c_str()) != 0) fail_errno("symlink {}", rel);
  }
  void touch(const std::string& rel, time_t when) const {
    struct timeval tv[2] = {{when, 0}, {when, 0}};
    if (::lutimes(path(rel).c_str(), tv) != 0) fail_errno("utimes {}", rel);
  }

 private:
  void make_parent(const std::string& rel) const {
    auto slash = rel.rfind('/');
    if (slash != std::string::npos) mkdir_all(path(rel.substr(0, slash)));
  }
  TempDir dir_;
};

CopyPlan plan(const Context& ctx, std::vector<std::string> sources, std::string dest, std::string workdir = "/",
              const DockerIgnore* ignore = nullptr) {
  CopyRequest req;
  req.sources = std::move(sources);
  req.dest = std::move(dest);
  req.workdir = std::move(workdir);
  return plan_copy(ctx.root(), req, {ignore, 2});
}

// "kind dest" per item, with the source (relative to the context) where it
// is not the obvious one, for compact expectations.
std::vector<std::string> summary(const Context& ctx, const CopyPlan& p) {
  std::vector<std::string> out;
  for (const auto& it : p.items) {
    std::string s;
    switch (it.kind) {
      case CopyKind::file: s = "f "; break;
      case CopyKind::dir: s = it.ensure_only ? "D " : "d "; break;
      case CopyKind::symlink: s = "l "; break;
      case CopyKind::special: s = "s "; break;
    }
    s += it.dest;
    if (!it.source.empty()) s += " <- " + it.source.substr(ctx.root().size() + 1);
    if (!it.link_target.empty()) s += " -> " + it.link_target;
    if (!it.name_if_dir.empty()) s += " [" + it.name_if_dir + "]";
    out.push_back(s);
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(CopySources, SingleFileToFilePathKeepsNameForExistingDirectory) {
  Context ctx;
  ctx.file("a.txt", "hello", 0640);
  CopyPlan p = plan(ctx, {"a.txt"}, "/etc/x.conf");
  EXPECT_EQ(summary(ctx, p), Lines({"f /etc/x.conf <- a.txt [a.txt]"}));
  EXPECT_EQ(p.items[0].source, ctx.path("a.txt"));
  EXPECT_EQ(p.items[0].mode & 07777, 0640u);
  // Relative destinations are relative to WORKDIR.
  EXPECT_EQ(summary(ctx, plan(ctx, {"a.txt"}, "conf/x", "/srv/app")), Lines({"f /srv/app/conf/x <- a.txt [a.txt]"}));
}

TEST(CopySources, SingleFileToDirectoryDestination) {
  Context ctx;
  ctx.file("a.txt", "hello");
  EXPECT_EQ(summary(ctx, plan(ctx, {"a.txt"}, "/opt/")), Lines({"f /opt/a.txt <- a.txt"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"a.txt"}, "sub/", "/app")), Lines({"f /app/sub/a.txt <- a.txt"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"a.txt"}, ".", "/app")), Lines({"f /app/a.txt <- a.txt"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"/a.txt"}, "/")), Lines({"f /a.txt <- a.txt"}));
}

TEST(CopySources, WildcardsMatchPerSegmentInWalkOrder) {
  Context ctx;
  ctx.file("b.txt", "b");
  ctx.file("a.txt", "a");
  ctx.file("c.md", "c");
  ctx.file("sub/d.txt", "d");
  ctx.file("sub/deeper/e.txt", "e");
  ctx.file("sub-x/f.txt", "f");
  EXPECT_EQ(summary(ctx, plan(ctx, {"*.txt"}, "/out/")), Lines({"f /out/a.txt <- a.txt", "f /out/b.txt <- b.txt"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"s?b*/*.txt"}, "/out/")),
            Lines({"f /out/d.txt <- sub/d.txt", "f /out/f.txt <- sub-x/f.txt"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"sub/[d-e]*"}, "/out/")),
            Lines({"f /out/d.txt <- sub/d.txt", "D /out", "f /out/e.txt <- sub/deeper/e.txt"}));
  // One match: a file destination is fine.
  EXPECT_EQ(summary(ctx, plan(ctx, {"[c]\\.md"}, "/x")), Lines({"f /x <- c.md [c.md]"}));
  // A wildcard that matches nothing adds nothing (BuildKit's AllowEmptyWildcard).
  EXPECT_TRUE(plan(ctx, {"*.none", "missing-dir/*"}, "/out/").items.empty());
  EXPECT_EQ(error_of([&] { plan(ctx, {"*.txt"}, "/out"); }),
            "When using COPY with more than one source file, the destination must be a directory and end with a /");
  EXPECT_EQ(error_of([&] { plan(ctx, {"x[", "a.txt"}, "/out/"); }),
            "COPY source \"x[\": bad pattern \"x[\": syntax error in pattern");
}

TEST(CopySources, DirectorySourceCopiesItsContents) {
  Context ctx;
  ctx.file("dir/f1", "1");
  ctx.file("dir/sub/f2", "2", 0755);
  ctx.dir("dir/sub", 0700);
  ctx.dir("dir/empty");
  CopyPlan p = plan(ctx, {"dir/"}, "/dst");
  EXPECT_EQ(summary(ctx, p), Lines({"D /dst", "d /dst/empty <- dir/empty", "f /dst/f1 <- dir/f1",
                                    "d /dst/sub <- dir/sub", "f /dst/sub/f2 <- dir/sub/f2"}));
  EXPECT_EQ(p.items[3].mode & 07777, 0700u);
  EXPECT_EQ(p.items[4].mode & 07777, 0755u);
  // The whole context, then a subdirectory: items follow argument order.
  EXPECT_EQ(summary(ctx, plan(ctx, {".", "dir/sub"}, "/app/")),
            Lines({"D /app", "d /app/dir <- dir", "d /app/dir/empty <- dir/empty", "f /app/dir/f1 <- dir/f1",
                   "d /app/dir/sub <- dir/sub", "f /app/dir/sub/f2 <- dir/sub/f2",  //
                   "D /app", "f /app/f2 <- dir/sub/f2"}));
}

TEST(CopySources, MultipleSourcesNeedADirectoryDestination) {
  Context ctx;
  ctx.file("a", "a");
  ctx.file("b", "b");
  ctx.file("d/c", "c");
  EXPECT_EQ(error_of([&] { plan(ctx, {"a", "b"}, "/x"); }),
            "When using COPY with more than one source file, the destination must be a directory and end with a /");
  EXPECT_EQ(summary(ctx, plan(ctx, {"a", "d"}, "/x/")), Lines({"f /x/a <- a", "D /x", "f /x/c <- d/c"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"a", "b"}, ".", "/w")), Lines({"f /w/a <- a", "f /w/b <- b"}));
  CopyRequest add;
  add.instruction = "ADD";
  add.sources = {"a", "b"};
  add.dest = "/x";
  EXPECT_EQ(error_of([&] { plan_copy(ctx.root(), add); }),
            "When using ADD with more than one source file, the destination must be a directory and end with a /");
}

TEST(CopySources, MissingSourceUsesBuildKitWording) {
  Context ctx;
  ctx.file("a", "a");
  EXPECT_EQ(error_of([&] { plan(ctx, {"a", "nope/x"}, "/d/"); }),
            "failed to compute cache key: failed to calculate checksum of ref context: \"/nope/x\": not found");
  EXPECT_EQ(error_of([&] { plan(ctx, {"a/x"}, "/d/"); }),  // a file is not a directory
            "failed to compute cache key: failed to calculate checksum of ref context: \"/a/x\": not found");
}

TEST(CopySources, SourcesCannotEscapeTheContext) {
  Context ctx;
  ctx.file("a.txt", "inside");
  EXPECT_EQ(summary(ctx, plan(ctx, {"../../a.txt"}, "/d/")), Lines({"f /d/a.txt <- a.txt"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"x/../../../a.txt"}, "/d/")), Lines({"f /d/a.txt <- a.txt"}));
  EXPECT_EQ(error_of([&] { plan(ctx, {"../../etc/passwd"}, "/d/"); }),
            "failed to compute cache key: failed to calculate checksum of ref context: \"/etc/passwd\": not found");
  // Symlinks that climb or are absolute resolve inside the context too.
  ctx.symlink("up", "../../../../a.txt");
  ctx.symlink("abs", "/a.txt");
  ctx.symlink("passwd", "/etc/passwd");
  EXPECT_EQ(summary(ctx, plan(ctx, {"up", "abs"}, "/d/")), Lines({"f /d/up <- a.txt", "f /d/abs <- a.txt"}));
  EXPECT_EQ(error_of([&] { plan(ctx, {"passwd"}, "/d/"); }),
            "failed to compute cache key: failed to calculate checksum of ref context: \"/passwd\": not found");
}

TEST(CopySources, SourceSymlinksAreFollowedNestedOnesKept) {
  Context ctx;
  ctx.file("real/file", "content");
  ctx.file("real/inner/x", "x");
  ctx.symlink("real/link-in-dir", "file");
  ctx.symlink("real/outside", "/etc/shadow");
  ctx.symlink("to-file", "real/file");
  ctx.symlink("to-dir", "real/inner");
  ctx.symlink("dangling", "nowhere");
  ctx.symlink("hop", "to-dir");
  // A named link copies what it points to, under the link's own name.
  EXPECT_EQ(summary(ctx, plan(ctx, {"to-file"}, "/d/")), Lines({"f /d/to-file <- real/file"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"to-file"}, "/f")), Lines({"f /f <- real/file [to-file]"}));
  // A link to a directory copies that directory's contents, through chains.
  EXPECT_EQ(summary(ctx, plan(ctx, {"hop"}, "/d")), Lines({"D /d", "f /d/x <- real/inner/x"}));
  // Links inside a copied directory stay links, targets untouched.
  EXPECT_EQ(summary(ctx, plan(ctx, {"real"}, "/r/")),
            Lines({"D /r", "f /r/file <- real/file", "d /r/inner <- real/inner", "f /r/inner/x <- real/inner/x",
                   "l /r/link-in-dir <- real/link-in-dir -> file", "l /r/outside <- real/outside -> /etc/shadow"}));
  // Links in the middle of a path and wildcard matches are followed too.
  EXPECT_EQ(summary(ctx, plan(ctx, {"to-dir/x"}, "/d/")), Lines({"f /d/x <- real/inner/x"}));
  EXPECT_EQ(summary(ctx, plan(ctx, {"to-f*"}, "/d/")), Lines({"f /d/to-file <- real/file"}));
  EXPECT_EQ(error_of([&] { plan(ctx, {"dangling"}, "/d/"); }),
            "failed to compute cache key: failed to calculate checksum of ref context: \"/dangling\": not found");
  ctx.symlink("loop", "loop");
  EXPECT_EQ(error_of([&] { plan(ctx, {"loop"}, "/d/"); }),
            "resolve loop in build context: too many levels of symbolic links");
}

TEST(CopySources, HardLinksWithinAPlanAreMarked) {
  Context ctx;
  ctx.file("d/a", "same");
  if (::link(ctx.path("d/a").c_str(), ctx.path("d/b").c_str()) != 0) fail_errno("link");
  CopyPlan p = plan(ctx, {"d"}, "/x");
  ASSERT_EQ(p.items.size(), 3u);
  EXPECT_EQ(p.items[1].hardlink_to, "");
  EXPECT_EQ(p.items[2].hardlink_to, "/x/a");
}

TEST(CopySources, DockerIgnoreHidesEntriesButKeepsParentsOfExceptions) {
  Context ctx;
  ctx.file("app.c", "c");
  ctx.file("debug.log", "log");
  ctx.file("build/keep/k", "k");
  ctx.file("build/other", "o");
  ctx.file("Dockerfile", "FROM scratch");
  ctx.symlink("to-log", "debug.log");
  DockerIgnore ig = DockerIgnore::parse("*.log\nbuild\n!build/keep\nDockerfile\n");
  EXPECT_EQ(summary(ctx, plan(ctx, {"."}, "/app/", "/", &ig)),
            Lines({"D /app", "f /app/app.c <- app.c", "d /app/build <- build", "d /app/build/keep <- build/keep",
                   "f /app/build/keep/k <- build/keep/k", "l /app/to-log <- to-log -> debug.log"}));
  // Hidden entries are missing, and so is a link's hidden target.
  for (const char* hidden : {"debug.log", "build/other", "Dockerfile", "to-log"}) {
    EXPECT_EQ(error_of([&] { plan(ctx, {hidden}, "/d/", "/", &ig); }),
              fmt::format("failed to compute cache key: failed to calculate checksum of ref context: "
                          "\"/{}\": not found",
                          hidden))
        << hidden;
  }
  // Wildcards only see what is visible.
  EXPECT_EQ(summary(ctx, plan(ctx, {"[A-Zab]*"}, "/w/", "/", &ig)),
            Lines({"f /w/app.c <- app.c", "D /w", "d /w/keep <- build/keep", "f /w/keep/k <- build/keep/k"}));
}

TEST(CopySources, DigestIgnoresTimesAndLocationButNotContentModeOrNames) {
  auto make = [](const Context& ctx) {
    ctx.file("src/a", "alpha");
    ctx.file("src/b/c", "gamma", 0600);
    ctx.symlink("src/l", "a");
  };
  Context one, two;
  make(one);
  make(two);
  auto digest = [](const Context& ctx, const DockerIgnore* ig = nullptr) {
    return plan(ctx, {"src"}, "/app/", "/", ig).digest;
  };
  const image::Digest base = digest(one);
  EXPECT_EQ(digest(two), base);  // another directory, same content
  one.touch("src/a", 1000000000);
  one.touch("src/l", 1000000000);
  EXPECT_EQ(digest(one), base);  // times do not count

  one.file("src/a", "ALPHA");
  EXPECT_NE(digest(one), base);  // content
  one.file("src/a", "alpha");
  EXPECT_EQ(digest(one), base);

  ::chmod(one.path("src/b/c").c_str(), 0640);
  EXPECT_NE(digest(one), base);  // mode
  ::chmod(one.path("src/b/c").c_str(), 04600);
  EXPECT_NE(digest(one), base);  // setuid
  ::chmod(one.path("src/b/c").c_str(), 0600);
  EXPECT_EQ(digest(one), base);

  ::rename(one.path("src/b/c").c_str(), one.path("src/b/d").c_str());
  EXPECT_NE(digest(one), base);  // names
  ::rename(one.path("src/b/d").c_str(), one.path("src/b/c").c_str());

  ::unlink(one.path("src/l").c_str());
  one.symlink("src/l", "b");
  EXPECT_NE(digest(one), base);  // link targets
  ::unlink(one.path("src/l").c_str());
  one.symlink("src/l", "a");
  EXPECT_EQ(digest(one), base);

  one.file("src/tmp.swp", "editor junk");
  EXPECT_NE(digest(one), base);
  DockerIgnore ig = DockerIgnore::parse("**/*.swp");
  EXPECT_EQ(digest(one, &ig), base);  // ignored files do not count
  EXPECT_EQ(plan(one, {"src"}, "/app/", "/", &ig).items.size(), plan(two, {"src"}, "/app/").items.size());
}

TEST(CopySources, DigestIsTheSameOnOneOrManyThreads) {
  // Enough files and bytes that helper threads start (and more after them).
  Context ctx;
  ctx.file("d/big", std::string((17 << 20) + 3, 'b'));  // hashed in three pieces
  for (int i = 0; i < 300; ++i) ctx.file(fmt::format("d/f{:03}", i), std::string(static_cast<size_t>(i) * 37, 'x'));
  CopyRequest req;
  req.sources = {"d"};
  req.dest = "/d";
  image::Digest one = plan_copy(ctx.root(), req, {nullptr, 1}).digest;
  EXPECT_EQ(plan_copy(ctx.root(), req, {nullptr, 2}).digest, one);
  EXPECT_EQ(plan_copy(ctx.root(), req, {nullptr, 8}).digest, one);
}

TEST(CopySources, BigFilesHashedInPiecesStillCoverEveryByte) {
  Context ctx;
  std::string data((17 << 20) + 1, 'z');
  ctx.file("big", data);
  auto digest = [&] { return plan(ctx, {"big"}, "/big").digest; };
  const image::Digest base = digest();
  for (size_t at : {size_t{0}, size_t{(8 << 20) + 5}, data.size() - 1}) {
    std::string changed = data;
    changed[at] = 'y';
    ctx.file("big", changed);
    EXPECT_NE(digest(), base) << "byte " << at;
  }
  ctx.file("big", data + "!");
  EXPECT_NE(digest(), base);
  ctx.file("big", data);
  EXPECT_EQ(digest(), base);
}

TEST(CopySources, DigestCacheAnswersForUnchangedFilesOnly) {
  Context ctx;
  ctx.file("a", "one");
  CopyRequest req;
  req.sources = {"a"};
  req.dest = "/a";
  DigestCache cache(/*min_age_seconds=*/0);
  CopyOptions opts{nullptr, 2, &cache};
  image::Digest plain = plan_copy(ctx.root(), req).digest;
  EXPECT_EQ(plan_copy(ctx.root(), req, opts).digest, plain);
  EXPECT_EQ(cache.size(), 1u);
  // What the cache says is used without reading the file: a planted digest shows through.
  struct stat st;
  ASSERT_EQ(::stat(ctx.path("a").c_str(), &st), 0);
  cache.store(st, std::string(64, 'f'));
  EXPECT_NE(plan_copy(ctx.root(), req, opts).digest, plain);
  // A write moves ctime, even when mtime and size are put back: the cache misses.
  ctx.file("a", "two");
  ctx.touch("a", st.st_mtim.tv_sec);
  image::Digest changed = plan_copy(ctx.root(), req).digest;
  EXPECT_NE(changed, plain);
  EXPECT_EQ(plan_copy(ctx.root(), req, opts).digest, changed);
}

TEST(CopySources, DigestCacheDoesNotRememberRecentlyChangedFiles) {
  Context ctx;
  ctx.file("a", "one");
  CopyRequest req;
  req.sources = {"a"};
  req.dest = "/a";
  DigestCache cache;  // the default: two seconds
  plan_copy(ctx.root(), req, {nullptr, 2, &cache});
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace berth::build
