// Recursive-descent parser for Go templates, shaped like text/template/parse
// (pipeline/command/operand/term) so that what parses, the positions nodes
// carry and the messages of parse errors agree with Go.
#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "base/error.h"
#include "cli/template_internal.h"

namespace berth::cli::tmpl {
namespace {

// strconv.Unquote for "..." and '...' literals; false on bad syntax.
bool unquote(std::string_view q, std::string& out) {
  std::string_view s = q.substr(1, q.size() - 2);
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i >= s.size()) return false;
    char c = s[i];
    int hex_len = 0;
    switch (c) {
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': case '\'':
        if (c != q[0]) return false;
        out += c;
        break;
      case 'x': hex_len = 2; break;
      case 'u': hex_len = 4; break;
      case 'U': hex_len = 8; break;
      default:
        if (c >= '0' && c <= '7' && i + 2 < s.size()) {
          int v = 0;
          for (int k = 0; k < 3; k++, i++) {
            if (s[i] < '0' || s[i] > '7') return false;
            v = v * 8 + (s[i] - '0');
          }
          i--;
          if (v > 255) return false;
          out += static_cast<char>(v);
          break;
        }
        return false;
    }
    if (hex_len) {
      if (i + hex_len >= s.size()) return false;
      uint32_t v = 0;
      auto r = std::from_chars(s.data() + i + 1, s.data() + i + 1 + hex_len, v, 16);
      if (r.ptr != s.data() + i + 1 + hex_len) return false;
      i += hex_len;
      if (c == 'x') {
        out += static_cast<char>(v);
      } else {
        if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return false;
        append_utf8(out, v);
      }
    }
  }
  return true;
}

class Parser {
 public:
  Parser(Tree& t) : t_(t), toks_(lex(t.text)) {}

  void parse() {
    while (peek().type != Tok::kEOF) {
      Node n;
      switch (text_or_action(n)) {
        case kNode: t_.root.push_back(std::move(n)); break;
        case kEnd: errorf("unexpected {{end}}");
        case kElse: errorf("unexpected {{else}}");
      }
    }
  }

 private:
  enum Got { kNode, kEnd, kElse };

  [[noreturn]] void errorf(const std::string& msg) {
    size_t pos = toks_[std::min(i_ == 0 ? 0 : i_ - 1, toks_.size() - 1)].pos;
    int line = 1 + static_cast<int>(std::count(t_.text.begin(), t_.text.begin() + std::min(pos, t_.text.size()), '\n'));
    fail("template: :{}:{}", line, msg.empty() ? "" : " " + msg);
  }

  const Token& next() {
    const Token& tok = toks_[i_ < toks_.size() ? i_ : toks_.size() - 1];
    if (i_ < toks_.size()) i_++;
    if (tok.type == Tok::kError) errorf(tok.val);
    return tok;
  }
  const Token& peek() {
    const Token& tok = toks_[std::min(i_, toks_.size() - 1)];
    if (tok.type == Tok::kError) {
      i_++;
      errorf(tok.val);
    }
    return tok;
  }
  void backup() { i_--; }
  const Token& next_non_space() {
    while (peek().type == Tok::kSpace) next();
    return next();
  }
  const Token& peek_non_space() {
    while (peek().type == Tok::kSpace) next();
    return peek();
  }
  const Token& expect(Tok t, const std::string& context) {
    const Token& tok = next_non_space();
    if (tok.type != t) unexpected(tok, context);
    return tok;
  }

  // Go's item.String() for "unexpected X in Y".
  [[noreturn]] void unexpected(const Token& tok, const std::string& context) {
    std::string what;
    if (tok.type == Tok::kEOF) {
      what = "EOF";
    } else if (tok.type >= Tok::kIf && tok.type != Tok::kNil && tok.type != Tok::kBool) {
      what = "<" + tok.val + ">";
    } else if (tok.type == Tok::kRightDelim || tok.type == Tok::kLeftDelim) {
      what = "\"" + tok.val + "\"";
    } else if (rune_count(tok.val) > 10) {
      json v = tok.val;
      what = go_sprintf("%.10q...", {&v});
    } else {
      json v = tok.val;
      what = go_sprintf("%q", {&v});
    }
    errorf("unexpected " + what + " in " + context);
  }

  Got text_or_action(Node& n) {
    const Token& tok = next_non_space();
    if (tok.type == Tok::kText) {
      n.kind = Node::kText;
      n.pos = tok.pos;
      n.text = tok.val;
      return kNode;
    }
    if (tok.type == Tok::kLeftDelim) return action(n);
    unexpected(tok, "input");
  }

  Got action(Node& n) {
    const Token& tok = next_non_space();
    switch (tok.type) {
      case Tok::kElse: {
        // "else if"/"else with" leave the keyword for the caller.
        const Token& p = peek_non_space();
        if (p.type == Tok::kIf || p.type == Tok::kWith) return kElse;
        expect(Tok::kRightDelim, "else");
        return kElse;
      }
      case Tok::kEnd:
        expect(Tok::kRightDelim, "end");
        return kEnd;
      case Tok::kIf: control(n, Node::kIf, "if"); return kNode;
      case Tok::kRange: control(n, Node::kRange, "range"); return kNode;
      case Tok::kWith: control(n, Node::kWith, "with"); return kNode;
      case Tok::kBreak:
      case Tok::kContinue: {
        bool brk = tok.type == Tok::kBreak;
        if (range_depth_ == 0) errorf(std::string("{{") + (brk ? "break" : "continue") + "}} outside {{range}}");
        n.kind = brk ? Node::kBreak : Node::kContinue;
        n.pos = tok.pos;
        expect(Tok::kRightDelim, brk ? "{{break}}" : "{{continue}}");
        return kNode;
      }
      case Tok::kDefine:
      case Tok::kTemplate:
      case Tok::kBlock:
        // Named templates have no use in a one-line --format.
        errorf("{{" + tok.val + "}} is not supported");
      default:
        backup();
        n.kind = Node::kAction;
        n.pos = peek_non_space().pos;
        n.pipe = pipeline("command", Tok::kRightDelim);
        return kNode;
    }
  }

  // Parses nodes until {{end}} or {{else}}, reporting which ended the list.
  Got item_list(std::vector<Node>& list) {
    while (peek_non_space().type != Tok::kEOF) {
      Node n;
      Got g = text_or_action(n);
      if (g != kNode) return g;
      list.push_back(std::move(n));
    }
    errorf("unexpected EOF");
  }

  void control(Node& n, Node::Kind kind, const std::string& context) {
    size_t nvars = vars_.size();
    n.kind = kind;
    n.pipe = pipeline(context, Tok::kRightDelim);
    n.pos = n.pipe.pos;
    if (kind == Node::kRange) range_depth_++;
    Got g = item_list(n.list);
    if (kind == Node::kRange) range_depth_--;
    if (g == kElse) {
      Tok chained = kind == Node::kIf ? Tok::kIf : kind == Node::kWith ? Tok::kWith : Tok::kEOF;
      if (chained != Tok::kEOF && peek().type == chained) {
        // {{else if x}} is {{else}}{{if x}}...{{end}}{{end}}; the inner
        // control consumes the shared {{end}}.
        next();
        Node inner;
        control(inner, kind, context);
        n.else_list.push_back(std::move(inner));
      } else if (item_list(n.else_list) != kEnd) {
        errorf("expected end; found {{else}}");
      }
    }
    vars_.resize(nvars);
  }

  Pipe pipeline(const std::string& context, Tok end) {
    Pipe pipe;
    pipe.pos = peek_non_space().pos;
    for (;;) {  // declarations
      if (peek_non_space().type != Tok::kVariable) break;
      size_t save = i_;
      const Token& v = next();
      const Token& after = peek_non_space();
      if (after.type == Tok::kAssign || after.type == Tok::kDeclare) {
        pipe.is_assign = after.type == Tok::kAssign;
        next_non_space();
        pipe.decl.push_back(v.val);
        vars_.push_back(v.val);
        break;
      }
      if (after.type == Tok::kChar && after.val == ",") {
        next_non_space();
        pipe.decl.push_back(v.val);
        vars_.push_back(v.val);
        if (context == "range" && pipe.decl.size() < 2) {
          Tok t = peek_non_space().type;
          if (t == Tok::kVariable || t == Tok::kRightDelim || t == Tok::kRightParen) continue;
          errorf("range can only initialize variables");
        }
        errorf("too many declarations in " + context);
      }
      i_ = save;
      break;
    }
    for (;;) {
      const Token& tok = next_non_space();
      if (tok.type == end) {
        if (pipe.cmds.empty()) errorf("missing value for " + context);
        for (size_t k = 1; k < pipe.cmds.size(); k++) {
          switch (pipe.cmds[k].args[0].kind) {
            case Arg::kBool: case Arg::kDot: case Arg::kNil: case Arg::kNumber: case Arg::kString:
              errorf("non executable command in pipeline stage " + std::to_string(k + 1));
            default: break;
          }
        }
        return pipe;
      }
      switch (tok.type) {
        case Tok::kBool: case Tok::kCharConst: case Tok::kDot: case Tok::kField:
        case Tok::kIdentifier: case Tok::kNumber: case Tok::kNil: case Tok::kRawString:
        case Tok::kString: case Tok::kVariable: case Tok::kLeftParen:
          backup();
          pipe.cmds.push_back(command());
          break;
        default:
          unexpected(tok, context);
      }
    }
  }

  Command command() {
    Command cmd;
    cmd.pos = peek_non_space().pos;
    for (;;) {
      peek_non_space();
      Arg a;
      if (operand(a)) cmd.args.push_back(std::move(a));
      const Token& tok = next();
      if (tok.type == Tok::kSpace) continue;
      if (tok.type == Tok::kRightDelim || tok.type == Tok::kRightParen) {
        backup();
      } else if (tok.type != Tok::kPipe) {
        unexpected(tok, "operand");
      }
      break;
    }
    if (cmd.args.empty()) errorf("empty command");
    return cmd;
  }

  bool operand(Arg& a) {
    if (!term(a)) return false;
    if (peek().type != Tok::kField) return true;
    size_t chain_pos = peek().pos;  // Go positions a chain at its first added field
    std::vector<std::string> more;
    while (peek().type == Tok::kField) more.push_back(next().val.substr(1));
    switch (a.kind) {
      case Arg::kField:
      case Arg::kVariable:
        a.fields.insert(a.fields.end(), more.begin(), more.end());
        a.pos = chain_pos;
        return true;
      case Arg::kBool: case Arg::kString: case Arg::kNumber: case Arg::kNil: case Arg::kDot: {
        json s = to_string(a);
        errorf("unexpected . after term " + go_sprintf("%q", {&s}));
      }
      default: {
        Arg chain;
        chain.kind = Arg::kChain;
        chain.pos = chain_pos;
        chain.fields = std::move(more);
        chain.base = std::make_shared<Arg>(std::move(a));
        a = std::move(chain);
        return true;
      }
    }
  }

  bool term(Arg& a) {
    const Token& tok = next_non_space();
    a.pos = tok.pos;
    switch (tok.type) {
      case Tok::kIdentifier:
        if (!is_function(tok.val)) errorf("function \"" + tok.val + "\" not defined");
        a.kind = Arg::kIdent;
        a.text = tok.val;
        return true;
      case Tok::kDot: a.kind = Arg::kDot; return true;
      case Tok::kNil: a.kind = Arg::kNil; return true;
      case Tok::kVariable: {
        a.kind = Arg::kVariable;
        a.text = tok.val;
        if (std::find(vars_.begin(), vars_.end(), tok.val) == vars_.end()) {
          errorf("undefined variable \"" + tok.val + "\"");
        }
        return true;
      }
      case Tok::kField:
        a.kind = Arg::kField;
        a.fields.push_back(tok.val.substr(1));
        return true;
      case Tok::kBool:
        a.kind = Arg::kBool;
        a.value = tok.val == "true";
        return true;
      case Tok::kCharConst:
      case Tok::kNumber:
        a.kind = Arg::kNumber;
        a.text = tok.val;
        number(a, tok.type == Tok::kCharConst);
        return true;
      case Tok::kLeftParen:
        a.kind = Arg::kPipe;
        a.pipe = std::make_shared<Pipe>(pipeline("parenthesized pipeline", Tok::kRightParen));
        return true;
      case Tok::kString:
      case Tok::kRawString: {
        a.kind = Arg::kString;
        a.text = tok.val;
        std::string s;
        if (tok.type == Tok::kRawString) {
          s = tok.val.substr(1, tok.val.size() - 2);
          std::erase(s, '\r');
        } else if (!unquote(tok.val, s)) {
          errorf("invalid syntax");
        }
        a.value = std::move(s);
        return true;
      }
      default:
        backup();
        return false;
    }
  }

  // Go's untyped constants: an integer literal is an int, anything with a
  // '.', exponent or that overflows is a float64.
  void number(Arg& a, bool is_char) {
    const std::string& text = a.text;
    if (is_char) {
      std::string s;
      if (!unquote(text, s) || s.empty()) errorf("malformed character constant: " + text);
      // Decode the single UTF-8 rune.
      unsigned char c0 = s[0];
      uint32_t r = c0;
      if (c0 >= 0xF0 && s.size() >= 4) r = ((c0 & 7) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
      else if (c0 >= 0xE0 && s.size() >= 3) r = ((c0 & 0xF) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
      else if (c0 >= 0xC0 && s.size() >= 2) r = ((c0 & 0x1F) << 6) | (s[1] & 0x3F);
      a.value = static_cast<int64_t>(r);
      a.is_int = true;
      return;
    }
    std::string clean;
    for (char c : text) {
      if (c != '_') clean += c;
    }
    if (clean.ends_with('i')) errorf("complex numbers are not supported: " + text);
    std::string_view body = clean;
    bool neg = false;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
      neg = body[0] == '-';
      body.remove_prefix(1);
    }
    int base = 10;
    if (body.size() > 2 && body[0] == '0') {
      char b = body[1] | 0x20;
      if (b == 'x') base = 16;
      if (b == 'o') base = 8;
      if (b == 'b') base = 2;
      if (base != 10) body.remove_prefix(2);
    } else if (body.size() > 1 && body[0] == '0' && body.find_first_not_of("01234567") == std::string_view::npos) {
      base = 8;
    }
    bool floaty = base == 10 ? body.find_first_of(".eE") != std::string_view::npos
                             : base == 16 && body.find_first_of(".pP") != std::string_view::npos;
    if (!floaty) {
      uint64_t u = 0;
      auto r = std::from_chars(body.data(), body.data() + body.size(), u, base);
      if (r.ec == std::errc() && r.ptr == body.data() + body.size() && !body.empty()) {
        if (u <= static_cast<uint64_t>(INT64_MAX) || (neg && u == static_cast<uint64_t>(INT64_MAX) + 1)) {
          a.value = neg ? static_cast<int64_t>(0 - u) : static_cast<int64_t>(u);
          a.is_int = true;
          return;
        }
        a.value = neg ? -static_cast<double>(u) : static_cast<double>(u);
        return;
      }
    }
    char* end = nullptr;
    double d = std::strtod(clean.c_str(), &end);
    if (clean.empty() || *end != '\0') errorf("illegal number syntax: \"" + text + "\"");
    a.value = d;
  }

  Tree& t_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  std::vector<std::string> vars_{"$"};
  int range_depth_ = 0;
};

std::string join_fields(const std::vector<std::string>& f) {
  std::string s;
  for (const auto& x : f) s += "." + x;
  return s;
}

}  // namespace

void parse_into(Tree& t) { Parser(t).parse(); }

std::string to_string(const Arg& a) {
  switch (a.kind) {
    case Arg::kField: return join_fields(a.fields);
    case Arg::kVariable: return a.text + join_fields(a.fields);
    case Arg::kDot: return ".";
    case Arg::kNil: return "nil";
    case Arg::kBool: return a.value.get<bool>() ? "true" : "false";
    case Arg::kNumber:
    case Arg::kString:
    case Arg::kIdent: return a.text;
    case Arg::kPipe: return "(" + to_string(*a.pipe) + ")";
    case Arg::kChain: {
      std::string base = to_string(*a.base);
      return base + join_fields(a.fields);
    }
  }
  return "";
}

std::string to_string(const Command& c) {
  std::string s;
  for (size_t i = 0; i < c.args.size(); i++) {
    if (i > 0) s += ' ';
    s += to_string(c.args[i]);
  }
  return s;
}

std::string to_string(const Pipe& p) {
  std::string s;
  for (size_t i = 0; i < p.decl.size(); i++) {
    if (i > 0) s += ", ";
    s += p.decl[i];
  }
  if (!p.decl.empty()) s += p.is_assign ? " = " : " := ";
  for (size_t i = 0; i < p.cmds.size(); i++) {
    if (i > 0) s += " | ";
    s += to_string(p.cmds[i]);
  }
  return s;
}

namespace {
std::string list_string(const std::vector<Node>& l) {
  std::string s;
  for (const auto& n : l) s += to_string(n);
  return s;
}
}  // namespace

std::string to_string(const Node& n) {
  switch (n.kind) {
    case Node::kText: return n.text;
    case Node::kAction: return "{{" + to_string(n.pipe) + "}}";
    case Node::kBreak: return "{{break}}";
    case Node::kContinue: return "{{continue}}";
    case Node::kIf:
    case Node::kRange:
    case Node::kWith: {
      const char* name = n.kind == Node::kIf ? "if" : n.kind == Node::kRange ? "range" : "with";
      std::string s = std::string("{{") + name + " " + to_string(n.pipe) + "}}" + list_string(n.list);
      if (!n.else_list.empty()) s += "{{else}}" + list_string(n.else_list);
      return s + "{{end}}";
    }
  }
  return "";
}

}  // namespace berth::cli::tmpl
