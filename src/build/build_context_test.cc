#include "build/build_context.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"

namespace berth::build {
namespace {

struct Entry {
  std::string name, content, symlink, hardlink;
  mode_t type = 0, perm = 0;
  int64_t uid = -1, gid = -1;
};

class BuildContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/build_context_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { remove_all(dir_); }

  void put(const std::string& rel, const std::string& content, mode_t mode = 0644) {
    std::string p = dir_ + "/" + rel;
    mkdir_all(p.substr(0, p.rfind('/')));
    write_file(p, content, mode);
  }

  // The tar write_context_tar makes, read back in order.
  std::vector<Entry> tar(const ContextTarOptions& opts, const std::string& dir = "") {
    std::string path = dir_ + ".tar";
    {
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      uint64_t n = write_context_tar(dir.empty() ? dir_ : dir, opts, fd.get());
      struct stat st;
      ::fstat(fd.get(), &st);
      EXPECT_EQ(n, static_cast<uint64_t>(st.st_size));
    }
    std::vector<Entry> out = read_tar(path);
    ::unlink(path.c_str());
    return out;
  }

  static std::vector<Entry> read_tar(const std::string& path) {
    std::vector<Entry> out;
    struct archive* a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 10240), ARCHIVE_OK);
    archive_entry* e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
      Entry x;
      x.name = archive_entry_pathname(e);
      x.type = archive_entry_filetype(e);
      x.perm = archive_entry_perm(e);
      x.uid = archive_entry_uid(e);
      x.gid = archive_entry_gid(e);
      if (const char* s = archive_entry_symlink(e)) x.symlink = s;
      if (const char* h = archive_entry_hardlink(e)) x.hardlink = h;
      char buf[4096];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) x.content.append(buf, static_cast<size_t>(n));
      out.push_back(x);
    }
    archive_read_free(a);
    return out;
  }

  static std::vector<std::string> names(const std::vector<Entry>& es) {
    std::vector<std::string> n;
    for (const Entry& e : es) n.push_back(e.name);
    return n;
  }

  std::string dir_;
};

TEST_F(BuildContextTest, SortedEntriesOwnedByRootWithModes) {
  put("b.txt", "bee", 0600);
  put("a/x", "ex", 0755);
  std::vector<Entry> es = tar({});
  EXPECT_EQ(names(es), (std::vector<std::string>{"a/", "a/x", "b.txt"}));
  EXPECT_EQ(es[0].type, AE_IFDIR);
  EXPECT_EQ(es[1].content, "ex");
  EXPECT_EQ(es[1].perm, 0755u);
  EXPECT_EQ(es[2].perm, 0600u);
  for (const Entry& e : es) {
    EXPECT_EQ(e.uid, 0) << e.name;
    EXPECT_EQ(e.gid, 0) << e.name;
  }
}

TEST_F(BuildContextTest, DockerignoreExcludesFilesAndDirectories) {
  put(".dockerignore", "*.log\nbuild\ndocs/**\n!docs/keep.md\n");
  put("app.log", "");
  put("main.c", "");
  put("build/out.o", "");
  put("docs/keep.md", "k");
  put("docs/drop.md", "");
  std::vector<Entry> es = tar({});
  // docs itself is excluded (docs/** matches below it only, so docs stays);
  // build is skipped whole.
  EXPECT_EQ(names(es), (std::vector<std::string>{".dockerignore", "docs/", "docs/keep.md", "main.c"}));
}

TEST_F(BuildContextTest, ExcludedDirectoryWithExceptionIsWalkedWithoutItsEntry) {
  put(".dockerignore", "vendor\n!vendor/keep\n");
  put("vendor/keep", "k");
  put("vendor/other", "");
  EXPECT_EQ(names(tar({})), (std::vector<std::string>{".dockerignore", "vendor/keep"}));
}

TEST_F(BuildContextTest, DockerfileAndDockerignoreAlwaysSent) {
  put(".dockerignore", "*\n");
  put("Dockerfile", "FROM x\n");
  put("sub/Build.df", "FROM y\n");
  put("other", "");
  EXPECT_EQ(names(tar({.keep = "Dockerfile"})), (std::vector<std::string>{".dockerignore", "Dockerfile"}));
  EXPECT_EQ(names(tar({.keep = "sub/Build.df"})), (std::vector<std::string>{".dockerignore", "sub/Build.df"}));
}

TEST_F(BuildContextTest, SymlinksStaySymlinks) {
  put("target", "t");
  ASSERT_EQ(::symlink("target", (dir_ + "/link").c_str()), 0);
  ASSERT_EQ(::symlink("/nowhere", (dir_ + "/dangling").c_str()), 0);
  std::vector<Entry> es = tar({});
  ASSERT_EQ(names(es), (std::vector<std::string>{"dangling", "link", "target"}));
  EXPECT_EQ(es[0].type, AE_IFLNK);
  EXPECT_EQ(es[0].symlink, "/nowhere");
  EXPECT_EQ(es[1].type, AE_IFLNK);
  EXPECT_EQ(es[1].symlink, "target");
}

TEST_F(BuildContextTest, SecondNameOfAFileIsAHardLink) {
  put("a", "data");
  ASSERT_EQ(::link((dir_ + "/a").c_str(), (dir_ + "/b").c_str()), 0);
  std::vector<Entry> es = tar({});
  ASSERT_EQ(names(es), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(es[0].content, "data");
  EXPECT_EQ(es[1].hardlink, "a");
  EXPECT_EQ(es[1].content, "");
}

TEST_F(BuildContextTest, CompressedWithGzipOnRequest) {
  put("a", "data");
  std::string path = dir_ + ".tgz";
  {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    write_context_tar(dir_, {.gzip = true}, fd.get());
  }
  std::string bytes = read_file(path);
  EXPECT_TRUE(bytes.starts_with("\x1f\x8b"));
  std::vector<Entry> es = read_tar(path);
  ::unlink(path.c_str());
  ASSERT_EQ(names(es), std::vector<std::string>{"a"});
  EXPECT_EQ(es[0].content, "data");
}

TEST_F(BuildContextTest, DockerfileFromOutsideIsAddedUnderItsNameAndIgnored) {
  put("a", "");
  std::string name = random_dockerfile_name();
  ASSERT_EQ(name.size(), std::string(".dockerfile.").size() + 20);
  std::vector<Entry> es = tar({.extra = ExtraDockerfile{name, "FROM z\n"}});
  ASSERT_EQ(names(es), (std::vector<std::string>{"a", name, ".dockerignore"}));
  EXPECT_EQ(es[1].content, "FROM z\n");
  EXPECT_EQ(es[1].perm, 0600u);
  EXPECT_EQ(es[2].content, ".dockerignore\n" + name + "\n");

  put(".dockerignore", "a");
  es = tar({.extra = ExtraDockerfile{name, "FROM z\n"}});
  ASSERT_EQ(names(es), (std::vector<std::string>{".dockerignore", name}));
  EXPECT_EQ(es[0].content, "a\n" + name + "\n");
}

TEST_F(BuildContextTest, ResolvesDockerfileInsideAndOutsideTheContext) {
  put("ctx/Dockerfile", "");
  put("elsewhere/Dockerfile.x", "");
  LocalContext c = resolve_local_context(dir_ + "/ctx", "");
  char real[PATH_MAX];
  ASSERT_NE(::realpath(dir_.c_str(), real), nullptr);
  EXPECT_EQ(c.dir, std::string(real) + "/ctx");
  EXPECT_EQ(c.dockerfile, "Dockerfile");
  EXPECT_FALSE(c.dockerfile_outside());
  c = resolve_local_context(dir_ + "/ctx", dir_ + "/elsewhere/Dockerfile.x");
  EXPECT_EQ(c.dockerfile, "../elsewhere/Dockerfile.x");
  EXPECT_TRUE(c.dockerfile_outside());
  EXPECT_EQ(resolve_local_context(dir_ + "/ctx", "-").dockerfile, "-");
}

TEST_F(BuildContextTest, LowercaseDockerfileIsFoundAndMissingOneIsDockersError) {
  put("ctx/dockerfile", "");
  EXPECT_EQ(resolve_local_context(dir_ + "/ctx", "").dockerfile, "dockerfile");
  char real[PATH_MAX];
  ASSERT_NE(::realpath(dir_.c_str(), real), nullptr);
  try {
    resolve_local_context(dir_ + "/ctx", dir_ + "/ctx/nope");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "unable to evaluate symlinks in Dockerfile path: lstat " + std::string(real) +
                                         "/ctx/nope: no such file or directory");
  }
}

TEST_F(BuildContextTest, RecognisesArchivesOnStdin) {
  put("f", "x");
  std::string path = dir_ + "/../bc.tar";
  {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
    write_context_tar(dir_, {}, fd.get());
  }
  std::string t = read_file(path);
  ::unlink(path.c_str());
  EXPECT_TRUE(looks_like_archive(t.substr(0, 512)));
  EXPECT_TRUE(looks_like_archive(std::string("\x1f\x8b\x08\x00", 4)));
  EXPECT_FALSE(looks_like_archive("FROM busybox\nRUN true\n"));
  EXPECT_FALSE(looks_like_archive(std::string(512, 'x')));
}

TEST_F(BuildContextTest, DockerfileAloneBecomesATarWithOneFile) {
  std::string path = dir_ + "/df.tar";
  {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
    write_dockerfile_tar("FROM a\n", fd.get());
  }
  std::vector<Entry> es = read_tar(path);
  ASSERT_EQ(names(es), std::vector<std::string>{"Dockerfile"});
  EXPECT_EQ(es[0].content, "FROM a\n");
}

}  // namespace
}  // namespace berth::build
