#include "build/dockerignore.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_util.h"

namespace berth::build {
namespace {

using berth::test::error_of;

struct MatchCase {
  const char* pattern;
  const char* name;
  bool match;
};

// Go's filepath.Match on Linux, including its less obvious corners.
TEST(FilepathMatch, FollowsGoRules) {
  const MatchCase cases[] = {
      {"abc", "abc", true},
      {"*", "abc", true},
      {"*c", "abc", true},
      {"a*", "a", true},
      {"a*", "abc", true},
      {"a*", "ab/c", false},  // '*' never crosses '/'
      {"a*/b", "abc/b", true},
      {"a*/b", "a/c/b", false},
      {"a*b*c*d*e*/f", "axbxcxdxe/f", true},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/f", true},
      {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", false},
      {"a*b?c*x", "abxbbxdbxebxczzx", true},
      {"a*b?c*x", "abxbbxdbxebxczzy", false},
      {"ab[c]", "abc", true},
      {"ab[b-d]", "abc", true},
      {"ab[e-g]", "abc", false},
      {"ab[^c]", "abc", false},
      {"ab[^b-d]", "abc", false},
      {"ab[^e-g]", "abc", true},
      {"ab[!c]", "abc", true},  // '!' is not negation in Go: the class is {'!', 'c'}
      {"ab[!c]", "ab!", true},
      {"ab[!c]", "abd", false},
      {"a\\*b", "a*b", true},
      {"a\\*b", "ab", false},
      {"a?b", "a\u263Ab", true},  // '?' is one rune, not one byte
      {"a[^a]b", "a\u263Ab", true},
      {"a???b", "a\u263Ab", false},
      {"[a-\u03B6]*", "\u03B1", true},
      {"*[a-\u03B6]", "A", false},
      {"a?b", "a/b", false},
      {"a*b", "a/b", false},
      {"a[/]b", "a/b", true},  // a class may match the separator
      {"[\\]a]", "]", true},
      {"[\\-]", "-", true},
      {"[x\\-]", "x", true},
      {"[x\\-]", "-", true},
      {"[x\\-]", "z", false},
      {"[\\-x]", "-", true},
      {"[\\-x]", "a", false},
      {"*x", "xxx", true},
      {"", "", true},
      {"", "a", false},
      {"*", "", true},
      {"a*", "a/", false},
  };
  for (const auto& c : cases) EXPECT_EQ(filepath_match(c.pattern, c.name), c.match) << c.pattern << " vs " << c.name;
}

TEST(FilepathMatch, MalformedPatternsAreErrorsNamingThePattern) {
  const char* bad[] = {"[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "a/b[", "ab\\"};
  for (const char* p : bad) {
    EXPECT_EQ(error_of([&] { filepath_match(p, "x"); }),
              fmt::format("bad pattern \"{}\": syntax error in pattern", p))
        << p;
  }
  // Reported even when an earlier part of the name already failed to match.
  EXPECT_THROW(filepath_match("x*[", "abc"), Error);
  EXPECT_THROW(filepath_match("a[", "ab"), Error);
  // A bad UTF-8 byte inside a class is malformed; outside one it is a byte.
  EXPECT_THROW(filepath_match("[\xff]", "a"), Error);
  EXPECT_TRUE(filepath_match("a\xff", "a\xff"));
}

struct IgnoreCase {
  const char* ignore;
  const char* path;
  bool excluded;
};

TEST(DockerIgnore, MatchesLikeDocker) {
  const IgnoreCase cases[] = {
      // "**" spans any number of directories, also none.
      {"**/*.go", "main.go", true},
      {"**/*.go", "cmd/tool/main.go", true},
      {"**/*.go", "main.gox", false},
      {"**", "anything/at/all", true},
      {"**/", "file", true},
      {"dir/**", "dir/a/b", true},
      {"dir/**", "dir", false},
      {"**/dir2/*", "dir/dir1/dir2/file", true},
      {"**/dir2/*", "dir2/file/deeper", true},  // a parent matches
      {"**/file*", "a/b/file.txt", true},
      {"**/file*", "file", true},
      {"a/**/b", "a/b", true},
      {"a/**/b", "a/x/y/b", true},
      {"a/**/b", "ab", false},
      {"**foo", "barfoo", true},  // docker's plain suffix test for "**<literal>"
      // Exceptions: the last pattern that applies wins.
      {"*.md\n!keep.md", "a.md", true},
      {"*.md\n!keep.md", "keep.md", false},
      {"*.md\n!keep.md", "docs/a.md", false},  // '*' stays in one segment
      {"*.md\n!README*.md\nREADME-secret.md", "README-secret.md", true},
      {"*.md\n!README*.md\nREADME-secret.md", "README-x.md", false},
      {"*.md\nREADME-secret.md\n!README*.md", "README-secret.md", false},
      // Directory exclusions cover everything below, exceptions reach in.
      {"build", "build/out/x.o", true},
      {"build\n!build/keep", "build/keep", false},
      {"build\n!build/keep", "build/keep/deep/file", false},
      {"build\n!build/keep", "build/other", true},
      {"*\n!src", "src/main.c", false},
      {"*\n!src", "docs/index.md", true},
      // A pattern carries down only from a level where it was tried: "!dir"
      // is not tried on the included "dir", so dir/a.txt stays excluded.
      {"**/*.txt\n!dir", "dir/a.txt", true},
      {"**/*.txt\n!dir", "dir", false},
      {"dir\n!dir", "dir/a.txt", false},
      {"dir\n!dir\ndir/sub\n!dir/sub/keep", "dir/sub/keep/x", false},
      {"dir\n!dir\ndir/sub\n!dir/sub/keep", "dir/sub/other", true},
      // Cleaning: a leading "/" or "./", doubled slashes and "..".
      {"/foo/bar", "foo/bar", true},
      {"/foo/bar", "foo", false},
      {"./foo", "foo/x", true},
      {"foo//bar/", "foo/bar", true},
      {"foo/../bar", "bar", true},
      {"foo/bar", "x/foo/bar", false},  // anchored at the context root
      // Single-character wildcards, classes and escapes.
      {"temp?", "tempa", true},
      {"temp?", "temp", false},
      {"temp?", "tempab", false},
      {"*/temp*", "somedir/temporary.txt", true},
      {"*/temp*", "temporary.txt", false},
      {"*/*/temp*", "a/b/temp", true},
      {"file[0-9].txt", "file7.txt", true},
      {"file[0-9].txt", "filea.txt", false},
      {"[^a]*", "bcd", true},
      {"[^a]*", "abc", false},
      {"[!a]", "!", true},  // as in Go, '!' does not negate a class
      {"[!a]", "b", false},
      {"\\*.txt", "*.txt", true},
      {"\\*.txt", "a.txt", false},
      {"a.c", "abc", false},  // '.' is literal
      // Escaped letters mean what they mean to docker's regular expression.
      {"\\a.md", "a.md", false},
      {"tab\\tname", "tab\tname", true},
      {"v\\d", "v7", true},
      {"v\\d", "vd", false},
      {"v\\W", "v-", true},
      {"\\#x", "#x", true},
      {"a*", "abc/def", true},
      {"a*", "x/abc", false},
      // Comments only in column 1; surrounding space is trimmed.
      {"#secret", "#secret", false},
      {" #secret", "#secret", true},
      {"  spaced.txt\t", "spaced.txt", true},
      {"*.txt\n! keep.txt", "keep.txt", false},
      {"\xEF\xBB\xBF" "bom.txt", "bom.txt", true},
      {"one\r\ntwo\r\n", "two", true},
      // The context root is never excluded.
      {"*", "", false},
      {"*", ".", false},
  };
  for (const auto& c : cases) {
    DockerIgnore ig = DockerIgnore::parse(c.ignore);
    EXPECT_EQ(ig.matches(c.path), c.excluded) << "patterns:\n" << c.ignore << "\npath: " << c.path;
  }
}

TEST(DockerIgnore, NormalisesPatternsAsReadAllDoes) {
  DockerIgnore ig = DockerIgnore::parse("# comment\n\n/a/b/\n  ./c  \n! /d\n!e/../f\nx/../../y\n");
  EXPECT_EQ(ig.patterns(), (std::vector<std::string>{"a/b", "c", "!d", "!f", "../y"}));
  EXPECT_TRUE(ig.has_exceptions());
  EXPECT_FALSE(DockerIgnore::parse("a\nb").has_exceptions());
  EXPECT_TRUE(DockerIgnore::parse("# only a comment\n\n   \n").empty());
  EXPECT_FALSE(DockerIgnore().matches("anything"));
}

TEST(DockerIgnore, BadLinesAreErrorsNamingTheLine) {
  EXPECT_EQ(error_of([] { DockerIgnore::parse("ok\n!\n"); }), ".dockerignore line 2: illegal exclusion pattern: \"!\"");
  EXPECT_EQ(error_of([] { DockerIgnore::parse("ok\n! \n"); }),
            ".dockerignore line 2: illegal exclusion pattern: \"!\"");
  EXPECT_EQ(error_of([] { DockerIgnore::parse("a\n\nfile[\n"); }),
            ".dockerignore line 3: bad pattern \"file[\": syntax error in pattern");
  EXPECT_EQ(error_of([] { DockerIgnore::parse("[z-a]"); }),
            ".dockerignore line 1: bad pattern \"[z-a]\": syntax error in pattern");
  EXPECT_EQ(error_of([] { DockerIgnore::parse("x\\by"); }),
            ".dockerignore line 1: bad pattern \"x\\by\": escape \\b is not supported");
  EXPECT_EQ(error_of([] { DockerIgnore(std::vector<std::string>{"x", "!["}); }),
            ".dockerignore line 2: bad pattern \"[\": syntax error in pattern");
}

struct SkipCase {
  const char* ignore;
  const char* dir;
  bool skip;
};

TEST(DockerIgnore, CanSkipDirOnlyWhenNoExceptionReachesBelow) {
  const SkipCase cases[] = {
      {"node_modules", "node_modules", true},
      {"node_modules", "src", false},  // not excluded at all
      {"node_modules\n!node_modules/keep", "node_modules", false},
      {"a\n!a/b/c", "a/b", false},
      {"a\n!a/b/c", "a/x", true},
      {"*\n!src/**/*.go", "src", false},
      {"*\n!src/**/*.go", "docs", true},
      {"*\n!**/*.go", "docs", false},  // a .go file may be anywhere
      {"*\n!*/keep", "docs", false},
      {"*\n!*/keep", "docs/sub", true},  // "*/keep" has exactly two segments
      {"*\n!keep**", "keepsake", false},
      {"*\n!keep**", "other", true},
      {"*\n!docs", "docs", false},  // re-included, so nothing to skip
      {"build/\n!build/out/", "build", false},
  };
  for (const auto& c : cases) {
    DockerIgnore ig = DockerIgnore::parse(c.ignore);
    EXPECT_EQ(ig.can_skip_dir(c.dir), c.skip) << "patterns:\n" << c.ignore << "\ndir: " << c.dir;
  }
}

}  // namespace
}  // namespace berth::build
