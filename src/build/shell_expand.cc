// A byte-at-a-time port of BuildKit's shell lexer. Multi-byte UTF-8
// characters pass through untouched because none of their bytes is special;
// only the glob patterns of ${NAME#pat} and friends step by whole characters.
#include "build/shell_expand.h"

#include <algorithm>

#include "base/error.h"

namespace berth::build {

namespace {

constexpr int kEof = -1;

bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }
bool is_digit(int c) { return c >= '0' && c <= '9'; }
// Go's unicode.IsLetter, approximated: every non-ASCII byte is part of a letter.
bool is_letter(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }
bool is_special_param(int c) {
  return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' || c == '0';
}

// Length of the UTF-8 character starting at s[i] (1 for stray bytes).
size_t char_len(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 1;
  return std::min(n, s.size() - i);
}

std::string reverse_chars(std::string_view s) {
  std::string out(s.size(), '\0');
  size_t end = s.size();
  for (size_t i = 0; i < s.size();) {
    size_t n = char_len(s, i);
    end -= n;
    out.replace(end, n, s.substr(i, n));
    i += n;
  }
  return out;
}

// ---- glob patterns of ${NAME#pat}, ${NAME%pat} and ${NAME/pat/repl} ----

struct PatternItem {
  enum Kind { kLiteral, kAnyChar, kAnyRun } kind;
  std::string text;  // kLiteral: one character
};
using Pattern = std::vector<PatternItem>;

Pattern compile_pattern(std::string_view p) {
  Pattern items;
  for (size_t i = 0; i < p.size();) {
    char c = p[i];
    if (c == '*' || c == '?') {
      items.push_back({c == '*' ? PatternItem::kAnyRun : PatternItem::kAnyChar, {}});
      ++i;
    } else if (c == '\\') {
      char next = i + 1 < p.size() ? p[i + 1] : '\0';
      if (next == '}' || next == '/') {  // escaped only to get past the ${} parser
        ++i;
        continue;
      }
      if (next != '*' && next != '?' && next != '\\')
        fail("invalid pattern ({}) in substitution: invalid escape '\\{}'", std::string(p),
             i + 1 < p.size() ? std::string(p.substr(i + 1, char_len(p, i + 1))) : "");
      items.push_back({PatternItem::kLiteral, std::string(1, next)});
      i += 2;
    } else {
      size_t n = char_len(p, i);
      items.push_back({PatternItem::kLiteral, std::string(p.substr(i, n))});
      i += n;
    }
  }
  return items;
}

// Matches a pattern against one string, trying alternatives in the order
// Go's leftmost-first regexp does (greedy: longest runs first), so the first
// match found is the one BuildKit finds.
class Matcher {
 public:
  Matcher(const Pattern& items, std::string_view s, bool greedy)
      : items_(items), s_(s), greedy_(greedy), failed_(items.size() * (s.size() + 1)) {}

  // End of the match starting at s[pos], if any.
  std::optional<size_t> at(size_t pos) { return match(0, pos); }

 private:
  std::optional<size_t> match(size_t k, size_t pos) {
    if (k == items_.size()) return pos;
    // Whether items[k..] match at pos does not depend on how we got here, so
    // a failure is remembered: patterns with many "*" stay polynomial.
    size_t state = k * (s_.size() + 1) + pos;
    if (failed_[state]) return std::nullopt;
    std::optional<size_t> m = try_item(k, pos);
    if (!m) failed_[state] = true;
    return m;
  }

  std::optional<size_t> try_item(size_t k, size_t pos) {
    const PatternItem& item = items_[k];
    if (item.kind == PatternItem::kLiteral) {
      if (s_.substr(pos).starts_with(item.text)) return match(k + 1, pos + item.text.size());
      return std::nullopt;
    }
    if (item.kind == PatternItem::kAnyChar) {
      if (pos < s_.size() && s_[pos] != '\n') return match(k + 1, pos + char_len(s_, pos));
      return std::nullopt;
    }
    std::vector<size_t> ends{pos};
    for (size_t p = pos; p < s_.size() && s_[p] != '\n';) {
      p += char_len(s_, p);
      ends.push_back(p);
    }
    if (greedy_) std::reverse(ends.begin(), ends.end());
    for (size_t end : ends)
      if (auto m = match(k + 1, end)) return m;
    return std::nullopt;
  }

  const Pattern& items_;
  std::string_view s_;
  bool greedy_;
  std::vector<bool> failed_;  // by (item, position)
};

std::string trim_prefix(const Pattern& items, std::string_view value, bool greedy) {
  if (auto end = Matcher(items, value, greedy).at(0)) return std::string(value.substr(*end));
  return std::string(value);
}

// Regexps cannot find the shortest rightmost match, so (like BuildKit) match
// the reversed pattern against the reversed value.
std::string trim_suffix(Pattern items, std::string_view value, bool greedy) {
  std::reverse(items.begin(), items.end());
  return reverse_chars(trim_prefix(items, reverse_chars(value), greedy));
}

struct Span {
  size_t begin, end;
};

std::optional<Span> find_match(const Pattern& items, std::string_view s, size_t from) {
  Matcher matcher(items, s, true);
  for (size_t start = from; start <= s.size(); start += start < s.size() ? char_len(s, start) : 1)
    if (auto end = matcher.at(start)) return Span{start, *end};
  return std::nullopt;
}

std::string replace(const Pattern& items, std::string_view value, std::string_view repl, bool all) {
  if (!all) {
    auto m = find_match(items, value, 0);
    if (!m) return std::string(value);
    return std::string(value.substr(0, m->begin)) + std::string(repl) + std::string(value.substr(m->end));
  }
  // Go's Regexp.ReplaceAllString: an empty match right after a match is not
  // replaced, and the search always moves on by at least one character.
  std::string out;
  size_t last_end = 0, search = 0;
  while (search <= value.size()) {
    auto m = find_match(items, value, search);
    if (!m) break;
    out += value.substr(last_end, m->begin - last_end);
    if (m->end > last_end || m->begin == 0) out += repl;
    last_end = m->end;
    size_t width = search < value.size() ? char_len(value, search) : 1;
    search = search + width > m->end ? search + width : m->end;
  }
  out += value.substr(last_end);
  return out;
}

// ---- word splitting for process_words ----

class Words {
 public:
  // A character from unquoted text or a variable's value: whitespace ends a word.
  void add_char(char c) {
    if (is_space(c)) {
      if (in_word_ && !word_.empty()) {
        words_.push_back(std::move(word_));
        word_.clear();
        in_word_ = false;
      }
    } else {
      add_raw(std::string_view(&c, 1));
    }
  }
  void add_string(std::string_view s) {
    for (char c : s) add_char(c);
  }
  // Quoted or escaped text: never splits.
  void add_raw(std::string_view s) {
    word_ += s;
    in_word_ = true;
  }
  std::vector<std::string> finish() {
    if (!word_.empty()) words_.push_back(std::move(word_));
    word_.clear();
    in_word_ = false;
    return std::move(words_);
  }

 private:
  std::string word_;
  std::vector<std::string> words_;
  bool in_word_ = false;
};

// ---- the lexer ----

struct Options {
  char escape;
  bool raw_quotes, raw_escapes, skip_unset, skip_quotes;
};

class Lexer {
 public:
  Lexer(std::string_view src, const Options& opt, const VariableLookup& vars, Expansion* out)
      : src_(src), opt_(opt), vars_(vars), out_(out), raw_escapes_(opt.raw_escapes) {}

  // BuildKit's processStopOn: text up to `stop` (consumed) or the end.
  std::pair<std::string, std::vector<std::string>> until(int stop, bool raw_escapes) {
    bool saved = raw_escapes_;
    raw_escapes_ = raw_escapes;
    std::string result;
    Words words;
    while (peek() != kEof) {
      int ch = peek();
      if (stop != kEof && ch == stop) {
        next();
        raw_escapes_ = saved;
        return {std::move(result), words.finish()};
      }
      if (ch == '$') {
        std::string value = dollar();
        result += value;
        words.add_string(value);
        continue;
      }
      if (!opt_.skip_quotes && (ch == '\'' || ch == '"')) {
        std::string text = ch == '\'' ? single_quote() : double_quote();
        result += text;
        words.add_raw(text);
        continue;
      }
      ch = next();
      if (ch == opt_.escape) {
        if (raw_escapes_) {
          words.add_raw(std::string(1, static_cast<char>(ch)));
          result += static_cast<char>(ch);
        }
        ch = next();
        if (ch == kEof) break;  // a trailing escape is dropped
        words.add_raw(std::string(1, static_cast<char>(ch)));
      } else {
        words.add_char(static_cast<char>(ch));
      }
      result += static_cast<char>(ch);
    }
    raw_escapes_ = saved;
    if (stop != kEof) fail("unexpected end of statement while looking for matching {}", static_cast<char>(stop));
    return {std::move(result), words.finish()};
  }

 private:
  int peek() const { return pos_ < src_.size() ? static_cast<unsigned char>(src_[pos_]) : kEof; }
  int next() { return pos_ < src_.size() ? static_cast<unsigned char>(src_[pos_++]) : kEof; }

  std::string single_quote() {
    std::string result;
    int ch = next();
    if (opt_.raw_quotes) result += static_cast<char>(ch);
    while (true) {
      ch = next();
      if (ch == kEof) fail("unexpected end of statement while looking for matching single-quote");
      if (ch == '\'') {
        if (opt_.raw_quotes) result += static_cast<char>(ch);
        return result;
      }
      result += static_cast<char>(ch);
    }
  }

  std::string double_quote() {
    std::string result;
    int ch = next();
    if (opt_.raw_quotes) result += static_cast<char>(ch);
    while (true) {
      int p = peek();
      if (p == kEof) fail("unexpected end of statement while looking for matching double-quote");
      if (p == '"') {
        ch = next();
        if (opt_.raw_quotes) result += static_cast<char>(ch);
        return result;
      }
      if (p == '$') {
        result += dollar();
        continue;
      }
      ch = next();
      if (ch == opt_.escape) {
        if (raw_escapes_) result += static_cast<char>(ch);
        int after = peek();
        if (after == kEof) continue;  // dropped; the loop then reports the missing quote
        // Only " $ and the escape itself can be escaped; otherwise the escape
        // stays (and, with raw escapes, appears twice, as in BuildKit).
        if (after == '"' || after == '$' || after == opt_.escape) ch = next();
      }
      result += static_cast<char>(ch);
    }
  }

  std::optional<std::string> get(const std::string& name) {
    std::optional<std::string> v = vars_ ? vars_(name) : std::nullopt;
    (v ? out_->matched : out_->unmatched).insert(name);
    return v;
  }

  std::string name() {
    std::string name;
    while (peek() != kEof) {
      int ch = peek();
      if (name.empty() && is_digit(ch)) {
        while (is_digit(peek())) name += static_cast<char>(next());
        return name;
      }
      if (name.empty() && is_special_param(ch)) return std::string(1, static_cast<char>(next()));
      if (!is_letter(ch) && !is_digit(ch) && ch != '_') break;
      name += static_cast<char>(next());
    }
    return name;
  }

  // The text up to `stop` inside ${...}; running off the end is reported as
  // the missing `missing` rather than whatever stopped the inner scan.
  std::string inner_until(int stop, bool raw_escapes, std::string_view missing) {
    try {
      return until(stop, raw_escapes).first;
    } catch (const Error&) {
      if (peek() == kEof) fail("{}", missing);
      throw;
    }
  }

  std::string dollar() {
    next();  // '$'
    if (peek() != '{') {
      std::string n = name();
      if (n.empty()) return "$";
      auto v = get(n);
      if (!v && opt_.skip_unset) return "$" + n;
      return v.value_or("");
    }
    next();  // '{'
    int first = peek();
    if (first == kEof) fail("syntax error: missing '}}'");
    if (first == '{' || first == '}' || first == ':') fail("syntax error: bad substitution");
    std::string n = name();
    int ch = next();
    if (ch == kEof) fail("syntax error: missing '}}'");
    std::string modifier(1, static_cast<char>(ch));
    if (ch == '}') {
      auto v = get(n);
      if (!v && opt_.skip_unset) return "${" + n + "}";
      return v.value_or("");
    }
    if (ch == '/') return substitute(n);
    bool null_is_unset = false;
    if (ch == ':') {
      null_is_unset = true;
      ch = next();
      if (ch != kEof) modifier += static_cast<char>(ch);
    } else if (ch != '+' && ch != '-' && ch != '?' && ch != '#' && ch != '%') {
      fail("unsupported modifier ({}) in substitution", modifier);
    }
    std::string word = inner_until('}', ch == '#' || ch == '%', "syntax error: missing '}'");
    auto v = get(n);
    if (!v && opt_.skip_unset) return "${" + n + modifier + word + "}";
    bool empty = !v || (null_is_unset && v->empty());
    switch (ch) {
      case '-':
        return empty ? word : *v;
      case '+':
        return empty ? "" : word;
      case '?':
        if (!v) fail("{}: {}", n, word.empty() ? "is not allowed to be unset" : word);
        if (empty) fail("{}: {}", n, word.empty() ? "is not allowed to be empty" : word);
        return *v;
      case '#':
      case '%': {
        bool greedy = !word.empty() && word[0] == ch;
        if (greedy) word.erase(0, 1);
        Pattern pattern = compile_pattern(word);
        std::string value = v.value_or("");
        return ch == '%' ? trim_suffix(std::move(pattern), value, greedy) : trim_prefix(pattern, value, greedy);
      }
      default:
        fail("unsupported modifier ({}) in substitution", modifier);
    }
  }

  // ${NAME/pattern/replacement} and ${NAME//pattern/replacement}.
  std::string substitute(const std::string& n) {
    bool all = peek() == '/';
    if (all) next();
    std::string pattern = inner_until('/', true, "syntax error: missing '/' in ${}");
    std::string replacement = inner_until('}', true, "syntax error: missing '}'");
    auto v = get(n);
    if (!v && opt_.skip_unset) return "${" + n + "/" + pattern + "/" + replacement + "}";
    return replace(compile_pattern(pattern), v.value_or(""), replacement, all);
  }

  std::string_view src_;
  const Options& opt_;
  const VariableLookup& vars_;
  Expansion* out_;
  size_t pos_ = 0;
  bool raw_escapes_;
};

}  // namespace

VariableLookup lookup_in(const std::map<std::string, std::string, std::less<>>& vars) {
  return [&vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

VariableLookup lookup_in_env(const std::vector<std::string>& env) {
  return [&env](std::string_view name) -> std::optional<std::string> {
    for (auto it = env.rbegin(); it != env.rend(); ++it) {
      std::string_view kv = *it;
      size_t eq = kv.find('=');
      if (kv.substr(0, eq) == name) return eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1));
    }
    return std::nullopt;
  };
}

Expansion ShellLex::expand(std::string_view text, const VariableLookup& vars) const {
  Options opt{escape_, raw_quotes_, raw_escapes_, skip_unset_, skip_quotes_};
  Expansion out;
  try {
    Lexer lexer(text, opt, vars, &out);
    auto [word, words] = lexer.until(kEof, raw_escapes_);
    out.word = std::move(word);
    out.words = std::move(words);
  } catch (const Error& e) {
    throw Error(fmt::format("failed to process {}: {}", go_quote(text), e.what()));
  }
  return out;
}

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace berth::build
