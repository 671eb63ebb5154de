// Two passes, as in BuildKit: the parser turns lines into instructions
// (directives, continuations, per-keyword argument shapes, heredocs), then
// every instruction is validated in order and placed into its stage. The
// order matters for which error a broken file reports: a malformed line
// anywhere (pass one) wins over an unknown instruction earlier on (pass two).
#include "build/dockerfile.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/strings.h"
#include "build/shell_expand.h"

namespace berth::build {

namespace {

// ---------------------------------------------------------------- text helpers

constexpr std::string_view kSpace = " \t\n\v\f\r";    // Go's TrimSpace (ASCII part)
constexpr std::string_view kSplitSpace = " \t\v\f\r";  // the parser's [\t\v\f\r ]+
constexpr std::string_view kRegexSpace = " \t\n\f\r";  // RE2's \s

bool is_space(char c) { return kSpace.find(c) != std::string_view::npos; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim_space(std::string_view s) {
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

std::string_view trim_left_space(std::string_view s) {
  size_t b = s.find_first_not_of(kSpace);
  return b == std::string_view::npos ? std::string_view() : s.substr(b);
}

std::string_view trim_newline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Splits at runs of [\t\v\f\r ]; `limit` pieces at most (the last keeps the rest).
std::vector<std::string> split_blanks(std::string_view s, size_t limit = SIZE_MAX) {
  std::vector<std::string> out;
  while (true) {
    size_t ws = out.size() + 1 == limit ? std::string_view::npos : s.find_first_of(kSplitSpace);
    if (ws == std::string_view::npos) {
      out.emplace_back(s);
      return out;
    }
    out.emplace_back(s.substr(0, ws));
    size_t next = s.find_first_not_of(kSplitSpace, ws);
    s = next == std::string_view::npos ? std::string_view() : s.substr(next);
  }
}

// Physical lines, each with its "\n" (the last may lack one).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    size_t n = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(0, n));
    text.remove_prefix(n);
  }
  return lines;
}

bool is_comment(std::string_view line) {
  line = trim_left_space(line);
  return !line.empty() && line[0] == '#';
}

// agext/levenshtein's Distance with unit costs.
size_t levenshtein(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// BuildKit's suggest.WrapError: " (did you mean X?)" for the closest option
// within distance 2, in the case of the value when not case-sensitive.
std::string suggestion(std::string_view value, const std::vector<std::string>& options, bool case_sensitive) {
  std::string v = case_sensitive ? std::string(value) : lower(value);
  std::string match;
  size_t best = 3;
  for (const std::string& option : options) {
    std::string o = case_sensitive ? option : lower(option);
    if (o == v) return "";
    size_t d = levenshtein(v, o);
    if (d < best) {
      best = d;
      match = o;
      if (!case_sensitive && value != lower(value) && value == upper(value)) match = upper(o);
    }
  }
  return match.empty() ? "" : fmt::format(" (did you mean {}?)", match);
}

[[noreturn]] void fail_at(std::string_view name, int line, std::string_view message) {
  throw Error(fmt::format("{}:{}: {}", name, line, message));
}

// ---------------------------------------------------------------- directives

class Directives {
 public:
  char escape = '\\';
  std::string syntax;

  // Looks at one line (newline and leading blanks trimmed); only the lines
  // before the first non-directive can be directives.
  void feed(std::string_view line) {
    if (done_) return;
    auto kv = match(line);
    if (!kv) {
      done_ = true;
      return;
    }
    std::string key = lower(kv->first);
    if (key != "syntax" && key != "escape" && key != "check") {
      done_ = true;
      return;
    }
    if (!seen_.insert(key).second) fail("only one {} parser directive can be used", key);
    if (key == "escape") {
      if (kv->second != "`" && kv->second != "\\")
        fail("invalid escape token '{}' does not match ` or \\", kv->second);
      escape = kv->second[0];
    } else if (key == "syntax") {
      syntax = kv->second;
    }
  }

 private:
  // ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$
  static std::optional<std::pair<std::string, std::string>> match(std::string_view line) {
    if (line.empty() || line[0] != '#') return std::nullopt;
    size_t i = line.find_first_not_of(kRegexSpace, 1);
    if (i == std::string_view::npos || !std::isalpha(static_cast<unsigned char>(line[i]))) return std::nullopt;
    size_t key_end = i;
    while (key_end < line.size() && std::isalnum(static_cast<unsigned char>(line[key_end]))) ++key_end;
    size_t eq = line.find_first_not_of(kRegexSpace, key_end);
    if (eq == std::string_view::npos || line[eq] != '=') return std::nullopt;
    std::string_view rest = line.substr(eq + 1);
    if (rest.empty()) return std::nullopt;
    std::string_view value = rest.substr(std::min(rest.find_first_not_of(kRegexSpace), rest.size()));
    size_t last = value.find_last_not_of(kRegexSpace);
    // All blank: the regex still matches, taking the last blank as the value.
    value = last == std::string_view::npos ? rest.substr(rest.size() - 1) : value.substr(0, last + 1);
    return std::make_pair(std::string(line.substr(i, key_end - i)), std::string(value));
  }

  bool done_ = false;
  std::set<std::string> seen_;
};

// `line` minus a trailing escape character (and blanks after it), and
// whether the line ends the logical line (no continuation).
std::pair<std::string_view, bool> trim_continuation(std::string_view line, char escape) {
  std::string_view s = line;
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty() || s.back() != escape) return {line, true};
  if (s.size() >= 2 && s[s.size() - 2] == escape) return {line, true};  // an escaped escape
  return {s.substr(0, s.size() - 1), false};
}

// ---------------------------------------------------------------- pass one: line shapes

// The parser's parseWords: words at blanks, quotes and escapes kept in the word.
std::vector<std::string> parse_words(std::string_view rest, char escape) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= rest.size(); ++pos) {
    bool at_end = pos == rest.size();
    char ch = at_end ? '\0' : rest[pos];
    if (phase == kSpaces) {
      if (at_end) break;
      if (is_space(ch)) continue;
      phase = kWord;
    }
    if (at_end) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == kWord) {
      if (is_space(ch)) {
        phase = kSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
      }
      if (ch == escape) {
        if (pos + 1 == rest.size()) continue;  // a trailing escape is dropped
        word += ch;
        ch = rest[++pos];
      }
      word += ch;
      continue;
    }
    if (ch == quote) phase = kWord;
    if (ch == escape && quote != '\'') {
      if (pos + 1 == rest.size()) {
        phase = kWord;
        continue;
      }
      word += ch;
      ch = rest[++pos];
    }
    word += ch;
  }
  return words;
}

// The parser's extractBuilderFlags: the leading "--flag" words (quotes and
// escapes removed) and the rest of the line after them.
std::pair<std::string_view, std::vector<std::string>> extract_flags(std::string_view line, char escape) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= line.size(); ++pos) {
    bool at_end = pos == line.size();
    char ch = at_end ? '\0' : line[pos];
    if (phase == kSpaces) {
      if (at_end) break;
      if (is_space(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') return {line.substr(pos), words};
      phase = kWord;
    }
    if (at_end) {
      if (word != "--" && (blank_ok || !word.empty())) words.push_back(word);
      break;
    }
    if (phase == kWord) {
      if (is_space(ch)) {
        phase = kSpaces;
        if (word == "--") return {line.substr(pos), words};
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
        continue;
      }
      if (ch == escape) {
        if (pos + 1 == line.size()) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    if (ch == quote) {
      phase = kWord;
      continue;
    }
    if (ch == escape) {
      if (pos + 1 == line.size()) {
        phase = kWord;
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return {std::string_view(), words};
}

// A JSON array of strings, read as Go's json.Decoder does (the first value;
// anything after it is ignored). nullopt when the text is not one.
std::optional<std::vector<std::string>> parse_json_array(std::string_view rest) {
  rest = trim_left_space(rest);
  if (!rest.starts_with('[')) return std::nullopt;
  nlohmann::json j;
  try {
    std::istringstream in{std::string(rest)};
    in >> j;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (!j.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string()) fail("when using JSON array syntax, arrays must be comprised of strings only");
    out.push_back(v.get<std::string>());
  }
  return out;
}

struct LineNode {
  Instruction inst;
  std::string written;          // the keyword as written, for messages
  bool takes_heredocs = false;  // RUN/COPY/ADD in shell form, directly or under ONBUILD
};

void maybe_json(Instruction* in, std::string_view rest) {
  if (rest.empty()) return;
  if (auto j = parse_json_array(rest)) {
    in->args = std::move(*j);
    in->json = true;
  } else {
    in->args = {std::string(rest)};
  }
}

void maybe_json_list(Instruction* in, std::string_view rest) {
  if (auto j = parse_json_array(rest)) {
    in->args = std::move(*j);
    in->json = true;
  } else if (!rest.empty()) {
    in->args = split_blanks(rest);
  }
}

// ENV and LABEL: "k=v k2=v2" or the legacy "k the value".
void name_values(Instruction* in, std::string_view rest, char escape) {
  std::vector<std::string> words = parse_words(rest, escape);
  if (words.empty()) return;
  if (words[0].find('=') == std::string::npos) {
    std::vector<std::string> parts = split_blanks(rest, 2);
    if (parts.size() < 2) fail("{} must have two arguments", in->keyword);
    in->pairs.push_back({parts[0], parts[1]});
  } else {
    for (const std::string& w : words) {
      size_t eq = w.find('=');
      if (eq == std::string::npos)
        fail("Syntax error - can't find = in {}. Must be of the form: name=value", go_quote(w));
      in->pairs.push_back({w.substr(0, eq), w.substr(eq + 1)});
    }
  }
  for (const KeyValue& kv : in->pairs) {
    in->args.push_back(kv.key);
    in->args.push_back(*kv.value);
  }
}

bool heredoc_keyword(std::string_view keyword) { return keyword == "RUN" || keyword == "COPY" || keyword == "ADD"; }

LineNode node_from_line(std::string_view line, char escape) {
  LineNode node;
  Instruction& in = node.inst;
  in.original = std::string(line);
  std::vector<std::string> cmdline = split_blanks(trim_space(line), 2);
  node.written = cmdline[0];
  in.keyword = upper(cmdline[0]);
  std::string_view rest;
  if (cmdline.size() == 2) {
    auto [args, flags] = extract_flags(cmdline[1], escape);
    rest = trim_space(args);
    in.flags = std::move(flags);
  }
  const std::string& k = in.keyword;
  if (k == "ADD" || k == "COPY" || k == "VOLUME") {
    maybe_json_list(&in, rest);
  } else if (k == "RUN" || k == "CMD" || k == "ENTRYPOINT" || k == "SHELL") {
    maybe_json(&in, rest);
  } else if (k == "ARG") {
    in.args = parse_words(rest, escape);
  } else if (k == "ENV" || k == "LABEL") {
    name_values(&in, rest, escape);
  } else if (k == "EXPOSE" || k == "FROM") {
    if (!rest.empty()) in.args = split_blanks(rest);
  } else if (k == "MAINTAINER" || k == "STOPSIGNAL" || k == "USER" || k == "WORKDIR") {
    if (!rest.empty()) in.args = {std::string(rest)};
  } else if (k == "HEALTHCHECK") {
    size_t sep = std::min(rest.find_first_of(kSpace), rest.size());
    if (sep > 0) {
      std::string_view command = trim_left_space(rest.substr(sep));
      maybe_json(&in, command);
      in.args.insert(in.args.begin(), std::string(rest.substr(0, sep)));
    }
  } else if (k == "ONBUILD") {
    if (!rest.empty()) {
      LineNode child = node_from_line(rest, escape);
      in.args = {child.written};
      in.args.insert(in.args.end(), child.inst.args.begin(), child.inst.args.end());
      node.takes_heredocs = heredoc_keyword(child.inst.keyword) && !child.inst.json;
    }
    return node;
  }
  // Unknown keywords keep no arguments; pass two rejects them.
  node.takes_heredocs = heredoc_keyword(k) && !in.json;
  return node;
}

// The heredocs a line opens: its words (quotes and escapes kept, unset
// variables left alone) that look like "<<WORD". A line that does not lex
// opens none.
std::vector<Heredoc> heredocs_in_line(std::string_view line) {
  std::vector<std::string> words;
  try {
    words = ShellLex('\\').raw_quotes(true).raw_escapes(true).skip_unset(true).process_words(line, nullptr);
  } catch (const Error&) {
    return {};
  }
  std::vector<Heredoc> docs;
  for (const std::string& w : words)
    if (auto h = parse_heredoc(w)) docs.push_back(std::move(*h));
  return docs;
}

struct Parsed {
  std::vector<Instruction> instructions;
  Directives directives;
  std::vector<std::string> warnings;
};

class LineReader {
 public:
  LineReader(std::string_view text, std::string_view name) : lines_(split_lines(text)), name_(name) {}

  Parsed read() {
    Parsed out;
    while (next_ < lines_.size()) {
      std::string_view raw = lines_[next_++];
      if (line_ == 0 && raw.starts_with("\xEF\xBB\xBF")) raw.remove_prefix(3);
      std::string_view first = trim_left_space(trim_newline(raw));
      try {
        out.directives.feed(first);
      } catch (const Error& e) {
        fail_at(name_, line_ + 1, e.what());
      }
      if (is_comment(first)) first = {};
      int start = ++line_;
      char escape = out.directives.escape;
      auto [text, end_of_line] = trim_continuation(first, escape);
      if (end_of_line && text.empty()) continue;
      std::string logical(text);
      bool empty_continuation = false;
      while (!end_of_line && next_ < lines_.size()) {
        std::string_view cont = trim_newline(lines_[next_++]);
        ++line_;
        if (is_comment(cont)) continue;
        if (trim_left_space(cont).empty()) {
          empty_continuation = true;
          continue;
        }
        auto [piece, eol] = trim_continuation(cont, escape);
        logical += piece;
        end_of_line = eol;
      }
      if (empty_continuation) out.warnings.push_back("Empty continuation line found in: " + logical);
      LineNode node;
      try {
        node = node_from_line(logical, escape);
        if (node.takes_heredocs && logical.find("<<") != std::string::npos) node.inst.heredocs = heredocs_in_line(logical);
      } catch (const Error& e) {
        fail_at(name_, start, e.what());
      }
      for (Heredoc& doc : node.inst.heredocs) read_body(&doc, start);
      node.inst.start_line = start;
      node.inst.end_line = line_;
      out.instructions.push_back(std::move(node.inst));
    }
    if (out.instructions.empty()) fail("file with no instructions");
    return out;
  }

 private:
  void read_body(Heredoc* doc, int start) {
    while (next_ < lines_.size()) {
      std::string_view raw = lines_[next_++];
      ++line_;
      std::string_view candidate = trim_newline(raw);
      if (doc->chomp) candidate.remove_prefix(std::min(candidate.find_first_not_of('\t'), candidate.size()));
      if (candidate == doc->name) return;
      doc->content += raw;
    }
    fail_at(name_, start, "unterminated heredoc");
  }

  std::vector<std::string_view> lines_;
  std::string_view name_;
  size_t next_ = 0;
  int line_ = 0;
};

// ---------------------------------------------------------------- pass two: validation

enum class FlagKind { kBool, kString, kStrings };
struct FlagSpec {
  std::string_view name;
  FlagKind kind;
};

// BuildKit's BFlags.Parse over the flags an instruction accepts.
void parse_flags(Instruction* in, std::initializer_list<FlagSpec> accepted) {
  std::set<std::string> used;
  for (const std::string& given : in->flags) {
    if (given == "--") return;
    if (!given.starts_with("--")) fail("arg should start with -- : {}", given);
    size_t eq = given.find('=');
    std::string flag_name = given.substr(0, eq);
    std::string name = flag_name.substr(2);
    bool has_value = eq != std::string::npos;
    std::string value = has_value ? given.substr(eq + 1) : "";
    auto spec = std::find_if(accepted.begin(), accepted.end(), [&](const FlagSpec& s) { return s.name == name; });
    if (spec == accepted.end()) {
      std::vector<std::string> names;
      for (const FlagSpec& s : accepted) names.emplace_back(s.name);
      fail("unknown flag: {}{}", flag_name, suggestion(name, names, true));
    }
    if (!used.insert(name).second && spec->kind != FlagKind::kStrings)
      fail("duplicate flag specified: {}", flag_name);
    if (spec->kind == FlagKind::kBool) {
      if (has_value && value.empty()) fail("missing a value on flag: {}", flag_name);
      std::string l = lower(value);
      if (l != "" && l != "true" && l != "false")
        fail("expecting boolean value for flag {}, not: {}", flag_name, value);
      value = l == "false" ? "false" : "true";
    } else if (!has_value) {
      fail("missing a value on flag: {}", flag_name);
    }
    in->flag_values.emplace_back(name, value);
  }
}

void exactly_one(const Instruction& in) {
  if (in.args.size() != 1) fail("{} requires exactly one argument", in.keyword);
}
void at_least_one(const Instruction& in) {
  if (in.args.empty()) fail("{} requires at least one argument", in.keyword);
}

void key_values(Instruction* in) {
  if (in->pairs.empty()) fail("{} requires at least one argument", in->keyword);
  for (const KeyValue& kv : in->pairs)
    if (kv.key.empty()) fail("{} names can not be blank", in->keyword);
}

// COPY and ADD: the argument count, the flags, then the destination.
void sources_and_dest(Instruction* in, std::initializer_list<FlagSpec> accepted) {
  if (in->args.size() < 2)
    fail("{} requires at least two arguments, but only one was provided. Destination could not be determined",
         in->keyword);
  parse_flags(in, accepted);
  std::optional<Heredoc> dest;
  try {
    dest = parse_heredoc(in->args.back());
  } catch (const Error&) {
  }
  if (dest) fail("{} cannot accept a heredoc as a destination", in->keyword);
}

// Go's time.ParseDuration, in nanoseconds, with its messages.
long long go_duration(std::string_view s) {
  const std::string quoted = go_quote(s);
  auto invalid = [&] { fail("time: invalid duration {}", quoted); };
  std::string_view orig = s;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) invalid();
  constexpr unsigned long long kMax = 1ULL << 63;
  unsigned long long total = 0;
  while (!s.empty()) {
    if (s[0] != '.' && !is_digit(s[0])) invalid();
    unsigned long long v = 0;
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (v > (kMax - 1) / 10) invalid();
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
      if (v > kMax) invalid();
    }
    bool pre = i > 0;
    s.remove_prefix(i);
    unsigned long long fraction = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      for (i = 0; i < s.size() && is_digit(s[i]); ++i) {
        if (fraction <= (kMax - 1) / 10) {  // like Go, extra digits only lose precision
          fraction = fraction * 10 + static_cast<unsigned>(s[i] - '0');
          scale *= 10;
        }
      }
      post = i > 0;
      s.remove_prefix(i);
    }
    if (!pre && !post) invalid();
    for (i = 0; i < s.size() && s[i] != '.' && !is_digit(s[i]); ++i) {
    }
    if (i == 0) fail("time: missing unit in duration {}", go_quote(orig));
    std::string_view unit = s.substr(0, i);
    s.remove_prefix(i);
    unsigned long long per;
    if (unit == "ns") per = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") per = 1000;
    else if (unit == "ms") per = 1000000;
    else if (unit == "s") per = 1000000000;
    else if (unit == "m") per = 60000000000ULL;
    else if (unit == "h") per = 3600000000000ULL;
    else fail("time: unknown unit {} in duration {}", go_quote(unit), go_quote(orig));
    if (v > kMax / per) invalid();
    v *= per;
    if (fraction > 0) {
      v += static_cast<unsigned long long>(static_cast<double>(fraction) * (static_cast<double>(per) / scale));
      if (v > kMax) invalid();
    }
    total += v;
    if (total > kMax) invalid();
  }
  if (negative) return -static_cast<long long>(total);
  if (total > kMax - 1) invalid();
  return static_cast<long long>(total);
}

long long interval(const Instruction& in, std::string_view name) {
  std::optional<std::string> value = in.flag(name);
  if (!value || value->empty()) return 0;
  long long d = go_duration(*value);
  if (d != 0 && d < 1000000) fail("Interval {} cannot be less than 1ms", go_quote(name));
  return d;
}

void healthcheck(Instruction* in) {
  at_least_one(*in);
  std::string type = upper(in->args[0]);
  std::vector<std::string> rest(in->args.begin() + 1, in->args.end());
  Healthcheck hc;
  if (type == "NONE") {
    if (!rest.empty()) fail("HEALTHCHECK NONE takes no arguments");
    hc.test = {"NONE"};
    in->healthcheck = std::move(hc);
    return;
  }
  parse_flags(in, {{"interval", FlagKind::kString},
                   {"timeout", FlagKind::kString},
                   {"start-period", FlagKind::kString},
                   {"start-interval", FlagKind::kString},
                   {"retries", FlagKind::kString}});
  if (type != "CMD") fail("Unknown type {} in HEALTHCHECK (try CMD)", go_quote(type));
  if (!in->json && !rest.empty()) rest = {join(rest, " ")};
  if (rest.empty()) fail("Missing command after HEALTHCHECK CMD");
  hc.test = {in->json ? "CMD" : "CMD-SHELL"};
  hc.test.insert(hc.test.end(), rest.begin(), rest.end());
  hc.interval = interval(*in, "interval");
  hc.timeout = interval(*in, "timeout");
  hc.start_period = interval(*in, "start-period");
  hc.start_interval = interval(*in, "start-interval");
  if (auto retries = in->flag("retries"); retries && !retries->empty()) {
    std::string_view digits = *retries;
    bool negative = digits.starts_with('-');
    if (negative || digits.starts_with('+')) digits.remove_prefix(1);
    unsigned long long magnitude = 0;
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit))
      fail("strconv.ParseInt: parsing {}: invalid syntax", go_quote(*retries));
    if (!parse_uint64(digits, &magnitude) || magnitude > (negative ? 2147483648ULL : 2147483647ULL))
      fail("strconv.ParseInt: parsing {}: value out of range", go_quote(*retries));
    long long n = negative ? -static_cast<long long>(magnitude) : static_cast<long long>(magnitude);
    if (n < 0) fail("--retries cannot be negative ({})", n);
    hc.retries = static_cast<int>(n);
  }
  in->healthcheck = std::move(hc);
}

void from(Instruction* in) {
  const auto& a = in->args;
  if (a.size() == 3 && lower(a[1]) == "as") {
    std::string name = lower(a[2]);
    bool ok = !name.empty() && name[0] >= 'a' && name[0] <= 'z' &&
              std::all_of(name.begin(), name.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_' || c == '.';
              });
    if (!ok)
      fail("invalid name for build stage: {}, name can't start with a number or contain symbols", go_quote(a[2]));
  } else if (a.size() != 1) {
    fail("FROM requires either one or three arguments");
  }
  parse_flags(in, {{"platform", FlagKind::kString}});
}

void onbuild(Instruction* in) {
  at_least_one(*in);
  parse_flags(in, {});
  std::string trigger = upper(trim_space(in->args[0]));
  if (trigger == "ONBUILD") fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (trigger == "MAINTAINER" || trigger == "FROM") fail("{} isn't allowed as an ONBUILD trigger", trigger);
  // (?i)^\s*ONBUILD\s* off the original line
  std::string_view text = in->original;
  text.remove_prefix(std::min(text.find_first_not_of(kRegexSpace), text.size()));
  if (text.size() >= 7 && upper(text.substr(0, 7)) == "ONBUILD") text.remove_prefix(7);
  text.remove_prefix(std::min(text.find_first_not_of(kRegexSpace), text.size()));
  in->trigger = std::string(text);
  for (const Heredoc& doc : in->heredocs) in->trigger += "\n" + doc.content + doc.name;
}

void run(Instruction* in) {
  parse_flags(in, {{"mount", FlagKind::kStrings}, {"network", FlagKind::kString}, {"security", FlagKind::kString}});
  if (auto network = in->flag("network"); network && *network != "default" && *network != "none" && *network != "host")
    fail("invalid network mode {}", go_quote(*network));
  if (auto security = in->flag("security"); security && *security != "sandbox" && *security != "insecure")
    fail("security {} is not valid", go_quote(*security));
}

// SHELL in shell form; with a hint for Windows paths whose backslashes broke the JSON.
[[noreturn]] void not_json(const Instruction& in) {
  std::string o = lower(in.original);
  std::string word = lower(in.keyword) + " ";
  for (size_t at; (at = o.find(word)) != std::string::npos;) o.erase(at, word.size());
  bool drive_path = false;
  for (size_t i = 0; i + 3 < o.size(); ++i)
    if (o[i] == '"' && o[i + 1] >= 'a' && o[i + 1] <= 'z' && o[i + 2] == ':' && o[i + 3] == '\\') drive_path = true;
  std::string extra;
  if (drive_path && o.find("\\\\") == std::string::npos && o.find('[') != std::string::npos &&
      o.find(']') != std::string::npos)
    extra = fmt::format(
        ". It looks like '{}' includes a file path without an escaped back-slash. JSON requires back-slashes to be "
        "escaped such as [\"c:\\\\path\\\\to\\\\file.exe\", \"/parameter\"]",
        o);
  fail("{} requires the arguments to be in JSON form{}", in.keyword, extra);
}

const std::vector<std::string>& instruction_names() {
  static const std::vector<std::string> names = {
      "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
      "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"};
  return names;
}

void validate(Instruction* in) {
  const std::string& k = in->keyword;
  if (k == "ENV" || k == "LABEL") {
    parse_flags(in, {});
    key_values(in);
  } else if (k == "MAINTAINER" || k == "WORKDIR" || k == "USER") {
    exactly_one(*in);
    parse_flags(in, {});
  } else if (k == "ADD") {
    sources_and_dest(in, {{"exclude", FlagKind::kStrings},
                          {"chown", FlagKind::kString},
                          {"chmod", FlagKind::kString},
                          {"link", FlagKind::kBool},
                          {"keep-git-dir", FlagKind::kBool},
                          {"checksum", FlagKind::kString}});
  } else if (k == "COPY") {
    sources_and_dest(in, {{"exclude", FlagKind::kStrings},
                          {"parents", FlagKind::kBool},
                          {"chown", FlagKind::kString},
                          {"from", FlagKind::kString},
                          {"chmod", FlagKind::kString},
                          {"link", FlagKind::kBool}});
  } else if (k == "FROM") {
    from(in);
  } else if (k == "ONBUILD") {
    onbuild(in);
  } else if (k == "RUN") {
    run(in);
  } else if (k == "CMD" || k == "ENTRYPOINT") {
    parse_flags(in, {});
  } else if (k == "HEALTHCHECK") {
    healthcheck(in);
  } else if (k == "EXPOSE") {
    at_least_one(*in);
    parse_flags(in, {});
  } else if (k == "VOLUME") {
    at_least_one(*in);
    parse_flags(in, {});
    for (const std::string& v : in->args)
      if (trim_space(v).empty()) fail("VOLUME specified can not be an empty string");
  } else if (k == "STOPSIGNAL") {
    exactly_one(*in);  // BuildKit never looks at STOPSIGNAL's flags
  } else if (k == "ARG") {
    at_least_one(*in);  // BuildKit never looks at ARG's flags either
    for (const std::string& a : in->args) {
      size_t eq = a.find('=');
      if (eq == 0) fail("ARG names can not be blank");
      if (eq == std::string::npos) in->pairs.push_back({a, std::nullopt});
      else in->pairs.push_back({a.substr(0, eq), a.substr(eq + 1)});
    }
  } else if (k == "SHELL") {
    parse_flags(in, {});
    at_least_one(*in);
    if (!in->json) not_json(*in);
  } else {
    std::string written = split_blanks(trim_space(in->original), 2)[0];
    fail("unknown instruction: {}{}", written, suggestion(written, instruction_names(), false));
  }
}

Parsed parse_and_validate(std::string_view text, std::string_view name) {
  Parsed parsed = LineReader(text, name).read();
  for (Instruction& in : parsed.instructions) {
    try {
      validate(&in);
    } catch (const Error& e) {
      fail_at(name, in.start_line, e.what());
    }
  }
  return parsed;
}

std::optional<std::pair<int, int>> port_range(std::string_view s) {
  auto number = [](std::string_view n) -> std::optional<int> {
    unsigned long long v;
    if (n.empty() || !std::all_of(n.begin(), n.end(), is_digit) || !parse_uint64(n, &v) || v > 65535)
      return std::nullopt;
    return static_cast<int>(v);
  };
  size_t dash = s.find('-');
  auto lo = number(s.substr(0, dash));
  auto hi = dash == std::string_view::npos ? lo : number(s.substr(dash + 1));
  if (!lo || !hi || *hi < *lo) return std::nullopt;
  return std::make_pair(*lo, *hi);
}

bool valid_ip(std::string ip) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

}  // namespace

std::string Heredoc::text() const {
  if (!chomp) return content;
  std::string out;
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '\t') continue;
    out += c;
    line_start = c == '\n';
  }
  return out;
}

std::optional<std::string> Instruction::flag(std::string_view name) const {
  for (auto it = flag_values.rbegin(); it != flag_values.rend(); ++it)
    if (it->first == name) return it->second;
  return std::nullopt;
}

std::vector<std::string> Instruction::flag_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : flag_values)
    if (n == name) out.push_back(v);
  return out;
}

const Stage* Dockerfile::find_stage(std::string_view stage_name) const {
  std::string wanted = lower(stage_name);
  for (const Stage& s : stages)
    if (!s.name.empty() && s.name == wanted) return &s;
  return nullptr;
}

std::optional<Heredoc> parse_heredoc(std::string_view word) {
  size_t i = 0;
  while (i < word.size() && is_digit(word[i])) ++i;
  if (word.substr(i, 2) != "<<") return std::nullopt;
  unsigned long long fd = 0;
  if (i > 0 && (!parse_uint64(word.substr(0, i), &fd) || fd > UINT32_MAX)) fd = 0;
  i += 2;
  bool chomp = i < word.size() && word[i] == '-';
  if (chomp) ++i;
  std::string_view rest = word.substr(i);
  if (rest.empty() || rest.find('<') != std::string_view::npos) return std::nullopt;
  // Lex the delimiter with and without its quotes: if they differ, part of
  // it was quoted and the body is not expanded.
  ShellLex lex('\\');
  lex.skip_unset(true);
  std::vector<std::string> words = lex.process_words(rest, nullptr);
  if (words.size() != 1) return std::nullopt;
  std::vector<std::string> raw = lex.raw_quotes(true).process_words(rest, nullptr);
  if (raw.size() != words.size())
    fail("internal lexing of heredoc produced inconsistent results: {}", std::string(rest));
  auto quotes = [](const std::string& s) { return std::count(s.begin(), s.end(), '\'') + std::count(s.begin(), s.end(), '"'); };
  Heredoc doc;
  doc.name = words[0];
  doc.expand = quotes(words[0]) == quotes(raw[0]);
  doc.chomp = chomp;
  doc.fd = static_cast<unsigned>(fd);
  return doc;
}

std::vector<Instruction> parse_instructions(std::string_view text, std::string_view name) {
  return parse_and_validate(text, name).instructions;
}

Dockerfile parse_dockerfile(std::string_view text, std::string_view name) {
  Parsed parsed = parse_and_validate(text, name);
  Dockerfile df;
  df.name = std::string(name);
  df.escape = parsed.directives.escape;
  df.syntax = parsed.directives.syntax;
  df.warnings = std::move(parsed.warnings);
  for (Instruction& in : parsed.instructions) {
    if (in.keyword == "ARG" && df.stages.empty()) {
      df.global_args.push_back(std::move(in));
    } else if (in.keyword == "FROM") {
      Stage stage;
      stage.index = df.stages.size();
      if (in.args.size() == 3) stage.name = lower(in.args[2]);
      stage.base = in.args[0];
      stage.platform = in.flag("platform").value_or("");
      stage.from = std::move(in);
      df.stages.push_back(std::move(stage));
    } else if (df.stages.empty()) {
      fail_at(name, in.start_line, "no build stage in current context");
    } else {
      df.stages.back().instructions.push_back(std::move(in));
    }
  }
  if (df.stages.empty()) fail("dockerfile contains no stages to build");
  return df;
}

CopySources copy_sources(const Instruction& in) {
  CopySources out;
  if (in.args.empty()) return out;
  out.dest = in.args.back();
  for (size_t i = 0; i + 1 < in.args.size(); ++i) {
    const std::string& src = in.args[i];
    std::optional<Heredoc> word;  // (BuildKit looks for them in JSON form too)
    try {
      word = parse_heredoc(src);
    } catch (const Error&) {
    }
    if (!word) {
      out.paths.push_back(src);
      continue;
    }
    InlineFile file{word->name, "", word->expand};
    for (const Heredoc& doc : in.heredocs)
      if (doc.name == word->name) {
        Heredoc body = doc;
        body.chomp = word->chomp;
        file.data = body.text();
      }
    out.files.push_back(std::move(file));
  }
  return out;
}

std::vector<std::string> exposed_ports(const std::vector<std::string>& specs) {
  std::vector<std::string> out;
  for (const std::string& spec : specs) {
    // ip:hostPort:containerPort/proto, each part but the last optional
    std::vector<std::string> parts = split(spec, ':');
    std::string container = parts.back();
    std::string host = parts.size() >= 2 ? parts[parts.size() - 2] : "";
    std::string ip;
    if (parts.size() >= 3) {
      parts.resize(parts.size() - 2);
      ip = join(parts, ":");
    }
    std::string proto = "tcp";
    if (size_t slash = container.find('/'); slash != std::string::npos) {
      if (slash + 1 < container.size()) proto = lower(container.substr(slash + 1));
      container.resize(slash);
    }
    if (container.empty()) fail("no port specified: {}<empty>", spec);
    if (proto != "tcp" && proto != "udp" && proto != "sctp") fail("invalid proto: {}", proto);
    if (!ip.empty() && !valid_ip(ip)) fail("invalid IP address: {}", ip);
    auto range = port_range(container);
    if (!range) fail("invalid containerPort: {}", container);
    if (!host.empty()) {
      auto host_range = port_range(host);
      if (!host_range) fail("invalid hostPort: {}", host);
      if (range->second - range->first != host_range->second - host_range->first && range->first != range->second)
        fail("invalid ranges specified for container and host Ports: {} and {}", container, host);
    }
    for (int p = range->first; p <= range->second; ++p) {
      std::string key = fmt::format("{}/{}", p, proto);
      if (std::find(out.begin(), out.end(), key) == out.end()) out.push_back(key);
    }
  }
  return out;
}

}  // namespace berth::build
