// Tokenizer for Go templates. Follows text/template/parse/lex.go's rules
// (trim markers need a space, comments must hug the delimiters, newlines are
// allowed inside actions) so the same inputs are accepted and rejected.
#include <cstdio>

#include "cli/template_internal.h"

namespace berth::cli::tmpl {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_alnum(char c) {
  // Bytes of multi-byte UTF-8 count as letters, as unicode.IsLetter mostly
  // would for identifiers people actually write.
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || static_cast<unsigned char>(c) >= 0x80;
}
bool has_left_trim(std::string_view s) { return s.size() >= 2 && s[0] == '-' && is_space(s[1]); }
bool has_right_trim(std::string_view s) { return s.size() >= 2 && is_space(s[0]) && s[1] == '-'; }

// Go's %#U of a byte taken as a rune.
std::string quote_rune(char c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "U+%04X '%c'", static_cast<unsigned char>(c), c);
  return buf;
}

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  std::vector<Token> run() {
    while (lex_text() && lex_action()) {
    }
    return std::move(out_);
  }

 private:
  void emit(Tok t, size_t start) { out_.push_back({t, start, std::string(in_.substr(start, pos_ - start))}); }
  bool error(std::string msg) {
    out_.push_back({Tok::kError, pos_, std::move(msg)});
    return false;
  }
  std::string_view rest() const { return in_.substr(pos_); }

  bool at_terminator() const {
    if (pos_ >= in_.size()) return true;
    char c = in_[pos_];
    if (is_space(c)) return true;
    switch (c) {
      case '.': case ',': case '|': case ':': case ')': case '(':
        return true;
    }
    return rest().starts_with("}}");
  }

  // Emits text up to the next action; false at EOF or error.
  bool lex_text() {
    for (;;) {
      size_t i = in_.find("{{", pos_);
      if (i == std::string_view::npos) {
        if (pos_ < in_.size()) {
          size_t start = pos_;
          pos_ = in_.size();
          emit(Tok::kText, start);
        }
        out_.push_back({Tok::kEOF, in_.size(), ""});
        return false;
      }
      bool ltrim = has_left_trim(in_.substr(i + 2));
      size_t end = i;
      if (ltrim) {
        while (end > pos_ && is_space(in_[end - 1])) end--;
      }
      if (end > pos_) out_.push_back({Tok::kText, pos_, std::string(in_.substr(pos_, end - pos_))});
      size_t p = i + 2 + (ltrim ? 2 : 0);
      if (in_.substr(p).starts_with("/*")) {
        pos_ = i;
        size_t e = in_.find("*/", p + 2);
        if (e == std::string_view::npos) return error("unclosed comment");
        pos_ = e + 2;
        if (has_right_trim(rest()) && in_.substr(pos_ + 2).starts_with("}}")) {
          pos_ += 4;
          skip_spaces();
        } else if (rest().starts_with("}}")) {
          pos_ += 2;
        } else {
          return error("comment ends before closing delimiter");
        }
        continue;
      }
      pos_ = i + 2;
      emit(Tok::kLeftDelim, i);
      pos_ = p;
      return true;
    }
  }

  void skip_spaces() {
    while (pos_ < in_.size() && is_space(in_[pos_])) pos_++;
  }

  // Emits the tokens of one action through its right delimiter.
  bool lex_action() {
    int parens = 0;
    for (;;) {
      bool rtrim = has_right_trim(rest()) && in_.substr(pos_ + 2).starts_with("}}");
      if (rtrim || rest().starts_with("}}")) {
        if (parens > 0) return error("unclosed left paren");
        if (rtrim) pos_ += 2;
        size_t start = pos_;
        pos_ += 2;
        emit(Tok::kRightDelim, start);
        if (rtrim) skip_spaces();
        return true;
      }
      if (pos_ >= in_.size()) return error("unclosed action");
      size_t start = pos_;
      char c = in_[pos_];
      if (is_space(c)) {
        skip_spaces();
        // A space followed by "-}}" belongs to the trim marker.
        if (has_right_trim(in_.substr(pos_ - 1)) && in_.substr(pos_ + 1).starts_with("}}")) {
          pos_--;
          if (pos_ == start) continue;
        }
        emit(Tok::kSpace, start);
      } else if (c == '=') {
        pos_++;
        emit(Tok::kAssign, start);
      } else if (c == ':') {
        pos_++;
        if (pos_ >= in_.size() || in_[pos_] != '=') return error("expected :=");
        pos_++;
        emit(Tok::kDeclare, start);
      } else if (c == '|') {
        pos_++;
        emit(Tok::kPipe, start);
      } else if (c == '"') {
        if (!lex_quote('"', "unterminated quoted string")) return false;
        emit(Tok::kString, start);
      } else if (c == '\'') {
        if (!lex_quote('\'', "unterminated character constant")) return false;
        emit(Tok::kCharConst, start);
      } else if (c == '`') {
        size_t e = in_.find('`', pos_ + 1);
        if (e == std::string_view::npos) return error("unterminated raw quoted string");
        pos_ = e + 1;
        emit(Tok::kRawString, start);
      } else if (c == '$') {
        pos_++;
        if (!lex_word(Tok::kVariable, start)) return false;
      } else if (c == '.' && !(pos_ + 1 < in_.size() && in_[pos_ + 1] >= '0' && in_[pos_ + 1] <= '9')) {
        pos_++;
        if (!lex_word(Tok::kField, start)) return false;
      } else if (c == '.' || c == '+' || c == '-' || (c >= '0' && c <= '9')) {
        if (!lex_number()) return false;
        emit(Tok::kNumber, start);
      } else if (is_alnum(c)) {
        while (pos_ < in_.size() && is_alnum(in_[pos_])) pos_++;
        if (!at_terminator()) return error("bad character " + quote_rune(in_[pos_]));
        emit(keyword(in_.substr(start, pos_ - start)), start);
      } else if (c == '(') {
        pos_++;
        parens++;
        emit(Tok::kLeftParen, start);
      } else if (c == ')') {
        pos_++;
        if (--parens < 0) return error("unexpected right paren");
        emit(Tok::kRightParen, start);
      } else if (static_cast<unsigned char>(c) < 0x7f && c >= ' ') {
        pos_++;
        emit(Tok::kChar, start);
      } else {
        return error("unrecognized character in action: " + quote_rune(c));
      }
    }
  }

  // After "$" or ".": a name, or the bare "$" / ".".
  bool lex_word(Tok t, size_t start) {
    if (at_terminator()) {
      emit(t == Tok::kVariable ? Tok::kVariable : Tok::kDot, start);
      return true;
    }
    while (pos_ < in_.size() && is_alnum(in_[pos_])) pos_++;
    if (!at_terminator()) return error("bad character " + quote_rune(in_[pos_]));
    emit(t, start);
    return true;
  }

  bool lex_quote(char q, const char* unterminated) {
    for (pos_++;; pos_++) {
      if (pos_ >= in_.size() || in_[pos_] == '\n') return error(unterminated);
      if (in_[pos_] == '\\') {
        pos_++;
        if (pos_ >= in_.size() || in_[pos_] == '\n') return error(unterminated);
      } else if (in_[pos_] == q) {
        pos_++;
        return true;
      }
    }
  }

  bool accept(std::string_view set) {
    if (pos_ < in_.size() && set.find(in_[pos_]) != std::string_view::npos) {
      pos_++;
      return true;
    }
    return false;
  }
  void accept_run(std::string_view set) {
    while (accept(set)) {
    }
  }

  bool lex_number() {
    size_t start = pos_;
    accept("+-");
    std::string_view digits = "0123456789_";
    bool hex = false;
    if (accept("0")) {
      if (accept("xX")) {
        digits = "0123456789abcdefABCDEF_";
        hex = true;
      } else if (accept("oO")) {
        digits = "01234567_";
      } else if (accept("bB")) {
        digits = "01_";
      }
    }
    accept_run(digits);
    if (accept(".")) accept_run(digits);
    if (digits.size() == 11 && accept("eE")) {
      accept("+-");
      accept_run("0123456789_");
    }
    if (hex && accept("pP")) {
      accept("+-");
      accept_run("0123456789_");
    }
    accept("i");
    if (pos_ < in_.size() && is_alnum(in_[pos_])) {
      pos_++;
      std::string bad(in_.substr(start, pos_ - start));
      return error("bad number syntax: \"" + bad + "\"");
    }
    return true;
  }

  static Tok keyword(std::string_view w) {
    static constexpr std::pair<std::string_view, Tok> kWords[] = {
        {"if", Tok::kIf},       {"else", Tok::kElse},         {"end", Tok::kEnd},
        {"range", Tok::kRange}, {"with", Tok::kWith},         {"break", Tok::kBreak},
        {"continue", Tok::kContinue}, {"define", Tok::kDefine}, {"template", Tok::kTemplate},
        {"block", Tok::kBlock}, {"nil", Tok::kNil},           {"true", Tok::kBool},
        {"false", Tok::kBool},
    };
    for (const auto& [word, tok] : kWords) {
      if (w == word) return tok;
    }
    return Tok::kIdentifier;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex(std::string_view text) { return Lexer(text).run(); }

}  // namespace berth::cli::tmpl
