// .dockerignore rules and Go's filepath.Match, as docker's builder applies
// them to a build context.
//
// filepath_match(pattern, name) is Go's path/filepath.Match on Linux, rule for
// rule: '*' is any run of non-'/' characters, '?' one non-'/' character,
// "[...]" a class of characters or ranges (lo-hi), negated only by a leading
// '^' ("[!x]" is the class of '!' and 'x', as in Go), '\' escapes the next
// character (also inside a class). A class can match '/'. Malformed patterns
// ("[", "[]", "[a-]", "x\", a bad UTF-8 byte in a class) throw Error
// `bad pattern "<pattern>": syntax error in pattern` even when an earlier part
// of the name already failed to match (Go >= 1.16 checks the whole pattern).
// COPY/ADD wildcards use it.
//
// DockerIgnore holds the patterns of one .dockerignore file, read the way
// docker reads it (moby/patternmatcher ignorefile.ReadAll): a UTF-8 BOM is
// dropped; a line starting with '#' in column 1 is a comment; surrounding
// whitespace is trimmed and blank lines skipped; "!" makes an exception
// (whitespace after it is trimmed too); the rest is cleaned like
// filepath.Clean ("./a//b/" -> "a/b") and one leading "/" removed, so "/a"
// and "a" are the same rule. A lone "!" and malformed patterns throw Error
// naming the line.
//
// matches(path) says whether a context path ("dir/file", relative to the
// context root, '/'-separated) is excluded: the last pattern that applies
// decides (an exception re-includes), and a pattern applies to a path when it
// matches the path or applied to its parent directory. As in docker's walkers
// (patternmatcher.MatchesUsingParentResults, used by the docker CLI and by
// BuildKit), a pattern is only tried on a directory while it could flip that
// directory's verdict, and one not tried there does not carry down: with
// "**/*.txt" then "!dir", dir/a.txt stays excluded. Patterns match as docker's
// translation to a regular expression does: "*" and "?" stay within one path
// segment, "**" matches any number of segments (also none): "**/*.go" is
// every .go file, "a/**" everything below a (not a itself), "**" everything;
// a pattern without wildcards must equal the path (or a parent). Outside a
// class an escaped letter keeps its regular-expression meaning as in docker
// ("\t" tab, "\d" digit, "\s", "\w" and their negations); the rarer RE2
// escapes (\b, \pL, \x41, ...) are refused. Where the translation merely
// garbles a pattern ('*' or '?' inside a class, RE2-only class syntax such as
// "[[:alpha:]]") we follow the filepath.Match reading instead; a '^' outside
// a class anchors at the path start as it does there. A reversed range
// ("[z-a]"), which docker only reports at match time, is a parse error here.
// The context root itself ("" or ".") is never excluded.
//
// can_skip_dir(dir) is the walker's question: true only when dir is excluded
// and no exception could match anything below it, so the whole subtree may
// be left out unread. When it is false for an excluded directory, the walker
// must still look inside; the directory then belongs to the context (without
// its excluded entries) exactly when something below it is included.
//
// The matcher is pure. Docker still ships the Dockerfile and the
// .dockerignore to the builder when they are ignored (it needs them), but
// COPY/ADD must not see them then: the builder reads both from the context
// first and then applies this matcher to everything COPY/ADD looks at
// (plan_copy does, given the matcher), which hides them again.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth::build {

// Go's filepath.Match; throws Error for a malformed pattern.
bool filepath_match(std::string_view pattern, std::string_view name);

class DockerIgnore {
 public:
  DockerIgnore();  // no patterns: nothing excluded
  // The text of a .dockerignore file.
  static DockerIgnore parse(std::string_view text);
  // One entry per line, each read as a line of the file.
  explicit DockerIgnore(const std::vector<std::string>& lines);

  DockerIgnore(const DockerIgnore&);
  DockerIgnore& operator=(const DockerIgnore&);
  DockerIgnore(DockerIgnore&&) noexcept;
  DockerIgnore& operator=(DockerIgnore&&) noexcept;
  ~DockerIgnore();

  bool empty() const { return patterns_.empty(); }
  // The normalised patterns, exceptions with their leading "!", in order.
  std::vector<std::string> patterns() const;
  bool has_exceptions() const { return has_exceptions_; }

  // Whether path (relative to the context root) is excluded.
  bool matches(std::string_view path) const;
  // Whether the excluded directory dir can be skipped with all it holds.
  bool can_skip_dir(std::string_view dir) const;

  struct Pattern;  // defined in dockerignore.cc

 private:
  std::vector<Pattern> patterns_;
  bool has_exceptions_ = false;
};

}  // namespace berth::build
