#include "build/dockerignore.h"

#include <cctype>
#include <utility>

#include "base/error.h"
#include "base/fs.h"

namespace berth::build {

namespace {

constexpr char32_t kRuneError = 0xFFFD;

struct Rune {
  char32_t value;
  size_t size;
};

// Go's utf8.DecodeRuneInString: an invalid or truncated sequence decodes as
// U+FFFD of size 1, so matching never stalls on bad bytes.
Rune decode_rune(std::string_view s) {
  if (s.empty()) return {kRuneError, 0};
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = b(0);
  if (c < 0x80) return {c, 1};
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {kRuneError, 1};
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return {kRuneError, 1};
  char32_t r = c & (0xFF >> (n + 1));
  r = (r << 6) | (b(1) & 0x3F);
  for (size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xBF) return {kRuneError, 1};
    r = (r << 6) | (b(i) & 0x3F);
  }
  return {r, n};
}

[[noreturn]] void bad_pattern(std::string_view pattern) {
  fail("bad pattern \"{}\": syntax error in pattern", pattern);
}

// ---- filepath.Match -------------------------------------------------------

// The next chunk of a pattern: a run of non-star terms, after any stars.
struct Chunk {
  bool star = false;
  std::string_view body, rest;
};

Chunk scan_chunk(std::string_view p) {
  Chunk c;
  while (!p.empty() && p[0] == '*') {
    p.remove_prefix(1);
    c.star = true;
  }
  bool in_class = false;
  size_t i = 0;
  for (; i < p.size(); ++i) {
    if (p[i] == '\\') {
      if (i + 1 < p.size()) ++i;  // a trailing '\' is reported by match_chunk
    } else if (p[i] == '[') {
      in_class = true;
    } else if (p[i] == ']') {
      in_class = false;
    } else if (p[i] == '*' && !in_class) {
      break;
    }
  }
  c.body = p.substr(0, i);
  c.rest = p.substr(i);
  return c;
}

// One possibly escaped character of a class; false if malformed.
bool class_char(std::string_view* chunk, char32_t* out) {
  std::string_view c = *chunk;
  if (c.empty() || c[0] == '-' || c[0] == ']') return false;
  if (c[0] == '\\') {
    c.remove_prefix(1);
    if (c.empty()) return false;
  }
  Rune r = decode_rune(c);
  if (r.value == kRuneError && r.size == 1) return false;
  c.remove_prefix(r.size);
  if (c.empty()) return false;  // a class must be closed
  *out = r.value;
  *chunk = c;
  return true;
}

// A parsed "[...]" (the '[' already consumed). False if malformed.
struct CharClass {
  bool negated = false;
  std::vector<std::pair<char32_t, char32_t>> ranges;
  bool contains(char32_t r) const {
    for (auto [lo, hi] : ranges)
      if (lo <= r && r <= hi) return true;
    return false;
  }
};

bool parse_class(std::string_view* chunk, CharClass* out) {
  std::string_view c = *chunk;
  if (c.empty()) return false;
  if (c[0] == '^') {
    out->negated = true;
    c.remove_prefix(1);
  }
  while (true) {
    if (!c.empty() && c[0] == ']' && !out->ranges.empty()) {
      c.remove_prefix(1);
      break;
    }
    char32_t lo = 0, hi = 0;
    if (!class_char(&c, &lo)) return false;
    hi = lo;
    if (c[0] == '-') {
      c.remove_prefix(1);
      if (!class_char(&c, &hi)) return false;
    }
    out->ranges.emplace_back(lo, hi);
  }
  *chunk = c;
  return true;
}

enum class ChunkMatch { yes, no, bad };

// Whether chunk matches the start of s (then *rest is what follows). Parses
// the whole chunk even after a mismatch, so malformed chunks always say bad.
ChunkMatch match_chunk(std::string_view chunk, std::string_view s, std::string_view* rest) {
  bool failed = false;
  while (!chunk.empty()) {
    if (!failed && s.empty()) failed = true;
    switch (chunk[0]) {
      case '[': {
        char32_t r = 0;
        if (!failed) {
          Rune d = decode_rune(s);
          r = d.value;
          s.remove_prefix(d.size);
        }
        chunk.remove_prefix(1);
        CharClass cls;
        if (!parse_class(&chunk, &cls)) return ChunkMatch::bad;
        if (cls.contains(r) == cls.negated) failed = true;
        break;
      }
      case '?':
        if (!failed) {
          if (s[0] == '/') failed = true;
          s.remove_prefix(decode_rune(s).size);
        }
        chunk.remove_prefix(1);
        break;
      case '\\':
        chunk.remove_prefix(1);
        if (chunk.empty()) return ChunkMatch::bad;
        [[fallthrough]];
      default:
        if (!failed) {
          if (chunk[0] != s[0]) failed = true;
          s.remove_prefix(1);
        }
        chunk.remove_prefix(1);
        break;
    }
  }
  if (failed) return ChunkMatch::no;
  *rest = s;
  return ChunkMatch::yes;
}

// ---- .dockerignore lines --------------------------------------------------

bool is_go_space(char32_t r) {
  switch (r) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200A;
  }
}

// strings.TrimSpace: Unicode white space at both ends.
std::string_view trim_space(std::string_view s) {
  size_t begin = s.size(), end = 0, i = 0;
  while (i < s.size()) {
    Rune r = decode_rune(s.substr(i));
    if (!is_go_space(r.value)) {
      if (begin == s.size()) begin = i;
      end = i + r.size;
    }
    i += r.size;
  }
  if (begin == s.size()) return {};
  return s.substr(begin, end - begin);
}

// ignorefile.ReadAll's treatment of one non-comment line: "" when blank.
std::string normalise_line(std::string_view line) {
  std::string_view p = trim_space(line);
  if (p.empty()) return "";
  bool exception = p[0] == '!';
  if (exception) p = trim_space(p.substr(1));
  std::string out;
  if (!p.empty()) {
    out = clean_path(p);
    if (out.size() > 1 && out[0] == '/') out.erase(0, 1);
  }
  return exception ? "!" + out : out;
}

}  // namespace

bool filepath_match(std::string_view pattern, std::string_view name) {
  const std::string_view whole = pattern;
  while (!pattern.empty()) {
    Chunk c = scan_chunk(pattern);
    pattern = c.rest;
    if (c.star && c.body.empty()) return name.find('/') == std::string_view::npos;  // trailing '*'
    std::string_view rest;
    ChunkMatch m = match_chunk(c.body, name, &rest);
    // The last chunk must use up the name; otherwise a star may still help.
    if (m == ChunkMatch::yes && (rest.empty() || !pattern.empty())) {
      name = rest;
      continue;
    }
    if (m == ChunkMatch::bad) bad_pattern(whole);
    if (c.star) {
      bool advanced = false;
      for (size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
        m = match_chunk(c.body, name.substr(i + 1), &rest);
        if (m == ChunkMatch::yes) {
          if (pattern.empty() && !rest.empty()) continue;
          name = rest;
          advanced = true;
          break;
        }
        if (m == ChunkMatch::bad) bad_pattern(whole);
      }
      if (advanced) continue;
    }
    // No match, but a malformed remainder is still an error.
    while (!pattern.empty()) {
      Chunk more = scan_chunk(pattern);
      pattern = more.rest;
      if (match_chunk(more.body, "", &rest) == ChunkMatch::bad) bad_pattern(whole);
    }
    return false;
  }
  return name.empty();
}

// One compiled pattern. moby/patternmatcher sorts patterns into four kinds
// while translating them to a regular expression, and the kinds differ in
// corner cases ("**foo" is a plain suffix test, so it matches "barfoo"), so
// we keep the same four kinds. The regular-expression kind runs as a small
// NFA over runes instead of a regex engine.
struct DockerIgnore::Pattern {
  enum class Kind { exact, prefix, suffix, regex };
  struct Token {
    enum class Type {
      literal,  // one rune
      star,     // [^/]*
      any,      // [^/]
      cls,      // [...]
      dir_star, // (.*/)?   "**" not at the end
      any_all,  // .*       "**" at the end
      anchor,   // ^        a bare '^' is a regex anchor in docker's translation
    } type;
    char32_t rune = 0;
    CharClass cls;
  };

  std::string text;  // cleaned, without the "!"
  bool exception = false;
  Kind kind = Kind::exact;
  std::vector<Token> tokens;

  void compile();
  Token escaped(char32_t c) const;
  bool matches_exactly(std::string_view path) const;
  bool could_match_below(std::string_view dir) const;

 private:
  // NFA states: 2k = before token k, 2k+1 = inside dir_star token k.
  using States = std::vector<char>;
  void close(States* s, size_t pos) const;
  States step(const States& s, char32_t r, size_t next_pos) const;
  bool accepting(const States& s) const { return s[2 * tokens.size()] != 0; }
  static bool dead(const States& s) {
    for (char c : s)
      if (c) return false;
    return true;
  }
};

// Docker hands "\x" to RE2 as it stands, so an escaped letter means what it
// means in a regular expression: "\t" is a tab, "\d" a digit. Punctuation
// and other characters are themselves. The rarer RE2 escapes (\b, \pL, \x41,
// octal, \Q...\E) we refuse rather than misread; letters RE2 rejects fail
// in docker too.
DockerIgnore::Pattern::Token DockerIgnore::Pattern::escaped(char32_t c) const {
  auto control = [](char32_t r) { return Token{Token::Type::literal, r}; };
  auto perl = [](bool negated, std::vector<std::pair<char32_t, char32_t>> ranges) {
    Token t{Token::Type::cls};
    t.cls.negated = negated;
    t.cls.ranges = std::move(ranges);
    return t;
  };
  const std::vector<std::pair<char32_t, char32_t>> digit = {{'0', '9'}},
                                                   space = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}},
                                                   word = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
  switch (c) {
    case 'a': return control(0x07);
    case 'f': return control('\f');
    case 't': return control('\t');
    case 'n': return control('\n');
    case 'r': return control('\r');
    case 'v': return control('\v');
    case 'd': return perl(false, digit);
    case 'D': return perl(true, digit);
    case 's': return perl(false, space);
    case 'S': return perl(true, space);
    case 'w': return perl(false, word);
    case 'W': return perl(true, word);
    default:
      if (c < 0x80 && std::isalnum(static_cast<int>(c)))
        fail("bad pattern \"{}\": escape \\{} is not supported", text, static_cast<char>(c));
      return {Token::Type::literal, c};
  }
}

void DockerIgnore::Pattern::compile() {
  // The same walk as patternmatcher's compile: i counts scanner steps, and
  // "**" as the very first token turns the pattern into a suffix test.
  std::string_view p = text;
  kind = Kind::exact;
  size_t pos = 0;
  for (size_t i = 0; pos < p.size(); ++i) {
    char c = p[pos];
    if (c == '*') {
      ++pos;
      if (pos < p.size() && p[pos] == '*') {
        ++pos;
        if (pos < p.size() && p[pos] == '/') ++pos;
        if (pos == p.size()) {
          if (kind == Kind::exact) {
            kind = Kind::prefix;
          } else {
            tokens.push_back({Token::Type::any_all});
            kind = Kind::regex;
          }
        } else {
          tokens.push_back({Token::Type::dir_star});
          kind = Kind::regex;
        }
        if (i == 0) kind = Kind::suffix;
      } else {
        tokens.push_back({Token::Type::star});
        kind = Kind::regex;
      }
    } else if (c == '?') {
      ++pos;
      tokens.push_back({Token::Type::any});
      kind = Kind::regex;
    } else if (c == '\\') {
      ++pos;
      if (pos == p.size()) bad_pattern(text);  // filepath_match already refused it
      Rune r = decode_rune(p.substr(pos));
      pos += r.size;
      tokens.push_back(escaped(r.value));
      kind = Kind::regex;
    } else if (c == '[') {
      std::string_view rest = p.substr(pos + 1);
      Token t{Token::Type::cls};
      if (!parse_class(&rest, &t.cls)) bad_pattern(text);
      for (auto [lo, hi] : t.cls.ranges)
        if (lo > hi) bad_pattern(text);  // docker's regexp refuses it when matching
      pos = p.size() - rest.size();
      tokens.push_back(std::move(t));
      kind = Kind::regex;
    } else if (c == ']') {
      ++pos;
      tokens.push_back({Token::Type::literal, U']'});
      kind = Kind::regex;
    } else if (c == '^') {
      ++pos;
      tokens.push_back({Token::Type::anchor});
    } else {
      Rune r = decode_rune(p.substr(pos));
      pos += r.size;
      tokens.push_back({Token::Type::literal, r.value});
    }
  }
}

void DockerIgnore::Pattern::close(States* s, size_t pos) const {
  // Epsilon moves only go forward, so one pass in token order suffices.
  for (size_t k = 0; k < tokens.size(); ++k) {
    if (!(*s)[2 * k]) continue;
    switch (tokens[k].type) {
      case Token::Type::star:
      case Token::Type::any_all:
        (*s)[2 * k + 2] = 1;
        break;
      case Token::Type::dir_star:
        (*s)[2 * k + 1] = 1;
        (*s)[2 * k + 2] = 1;
        break;
      case Token::Type::anchor:
        if (pos == 0) (*s)[2 * k + 2] = 1;
        break;
      default:
        break;
    }
  }
}

DockerIgnore::Pattern::States DockerIgnore::Pattern::step(const States& s, char32_t r, size_t next_pos) const {
  States out(s.size(), 0);
  for (size_t k = 0; k < tokens.size(); ++k) {
    const Token& t = tokens[k];
    if (s[2 * k]) {
      switch (t.type) {
        case Token::Type::literal:
          if (r == t.rune) out[2 * k + 2] = 1;
          break;
        case Token::Type::any:
          if (r != '/') out[2 * k + 2] = 1;
          break;
        case Token::Type::cls:
          if (t.cls.contains(r) != t.cls.negated) out[2 * k + 2] = 1;
          break;
        case Token::Type::star:
          if (r != '/') out[2 * k] = 1;
          break;
        case Token::Type::any_all:
          if (r != '\n') out[2 * k] = 1;  // RE2's '.' stops at newlines
          break;
        default:
          break;
      }
    }
    if (s[2 * k + 1] && r != '\n') {
      out[2 * k + 1] = 1;
      if (r == '/') out[2 * k + 2] = 1;
    }
  }
  close(&out, next_pos);
  return out;
}

bool DockerIgnore::Pattern::matches_exactly(std::string_view path) const {
  switch (kind) {
    case Kind::exact:
      return path == text;
    case Kind::prefix:
      return path.starts_with(std::string_view(text).substr(0, text.size() - 2));
    case Kind::suffix: {
      std::string_view suffix = std::string_view(text).substr(2);
      return path.ends_with(suffix) || (!suffix.empty() && suffix[0] == '/' && path == suffix.substr(1));
    }
    case Kind::regex:
      break;
  }
  States s(2 * tokens.size() + 1, 0);
  s[0] = 1;
  close(&s, 0);
  size_t i = 0;
  while (i < path.size()) {
    Rune r = decode_rune(path.substr(i));
    i += r.size;
    s = step(s, r.value, i);
    if (dead(s)) return false;
  }
  return accepting(s);
}

bool DockerIgnore::Pattern::could_match_below(std::string_view dir) const {
  std::string below = std::string(dir) + "/";
  switch (kind) {
    case Kind::exact:
      return text.starts_with(below);
    case Kind::prefix: {
      std::string_view prefix = std::string_view(text).substr(0, text.size() - 2);
      return prefix.starts_with(below) || std::string_view(below).starts_with(prefix);
    }
    case Kind::suffix:
      return true;  // "dir/<suffix>" always exists as a candidate
    case Kind::regex:
      break;
  }
  // Conservative: any NFA state still alive after "dir/" might accept later.
  States s(2 * tokens.size() + 1, 0);
  s[0] = 1;
  close(&s, 0);
  size_t i = 0;
  while (i < below.size()) {
    Rune r = decode_rune(std::string_view(below).substr(i));
    i += r.size;
    s = step(s, r.value, i);
    if (dead(s)) return false;
  }
  return true;
}

DockerIgnore::DockerIgnore() = default;
DockerIgnore::DockerIgnore(const DockerIgnore&) = default;
DockerIgnore& DockerIgnore::operator=(const DockerIgnore&) = default;
DockerIgnore::DockerIgnore(DockerIgnore&&) noexcept = default;
DockerIgnore& DockerIgnore::operator=(DockerIgnore&&) noexcept = default;
DockerIgnore::~DockerIgnore() = default;

DockerIgnore DockerIgnore::parse(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.emplace_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  if (!lines.empty() && lines[0].starts_with("\xEF\xBB\xBF")) lines[0].erase(0, 3);
  return DockerIgnore(lines);
}

DockerIgnore::DockerIgnore(const std::vector<std::string>& lines) {
  for (size_t n = 0; n < lines.size(); ++n) {
    if (lines[n].starts_with('#')) continue;  // only in column 1
    std::string line = normalise_line(lines[n]);
    // patternmatcher.New then trims and cleans once more, the "!" included.
    std::string p = std::string(trim_space(line));
    if (p.empty()) continue;
    p = clean_path(p);
    Pattern pat;
    if (p[0] == '!') {
      if (p.size() == 1) fail(".dockerignore line {}: illegal exclusion pattern: \"!\"", n + 1);
      pat.exception = true;
      p.erase(0, 1);
    }
    try {
      filepath_match(p, ".");  // docker's syntax check
      pat.text = p;
      pat.compile();
    } catch (const Error& e) {
      throw e.wrap(fmt::format(".dockerignore line {}", n + 1));
    }
    has_exceptions_ = has_exceptions_ || pat.exception;
    patterns_.push_back(std::move(pat));
  }
}

std::vector<std::string> DockerIgnore::patterns() const {
  std::vector<std::string> out;
  for (const auto& p : patterns_) out.push_back(p.exception ? "!" + p.text : p.text);
  return out;
}

namespace {

// A context path as the matcher wants it: clean, relative, "" for the root.
std::string context_relative(std::string_view path) {
  std::string p = clean_path(path);
  size_t skip = 0;
  while (skip < p.size() && p[skip] == '/') ++skip;
  p.erase(0, skip);
  return p == "." ? "" : p;
}

}  // namespace

bool DockerIgnore::matches(std::string_view path) const {
  std::string p = context_relative(path);
  if (p.empty()) return false;  // docker never excludes the whole context
  // Docker's walkers (patternmatcher.MatchesUsingParentResults, in the CLI
  // and in BuildKit) go down one level at a time. At each level a pattern
  // applies if it applied to the parent or matches this path itself, but it
  // is only tried when it could flip the verdict so far; one that was not
  // tried on the parent does not carry down. So "**/*.txt" then "!dir"
  // leaves dir/a.txt excluded: "!dir" was never tried on the included "dir".
  std::vector<char> applied(patterns_.size(), 0), below(patterns_.size(), 0);
  bool excluded = false;
  for (size_t end = p.find('/');; end = p.find('/', end + 1)) {
    std::string_view level = std::string_view(p).substr(0, end);
    excluded = false;
    for (size_t i = 0; i < patterns_.size(); ++i) {
      const Pattern& pat = patterns_[i];
      bool hit = applied[i] != 0;
      if (!hit) {
        if (pat.exception != excluded) {
          below[i] = 0;
          continue;
        }
        hit = pat.matches_exactly(level);
      }
      below[i] = hit;
      if (hit) excluded = !pat.exception;
    }
    applied.swap(below);
    if (end == std::string::npos) break;
  }
  return excluded;
}

bool DockerIgnore::can_skip_dir(std::string_view dir) const {
  std::string d = context_relative(dir);
  if (!matches(d)) return false;
  for (const auto& pat : patterns_)
    if (pat.exception && pat.could_match_below(d)) return false;
  return true;
}

}  // namespace berth::build
