// Internals shared by the template lexer, parser and evaluator; not API.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::cli::tmpl {

using nlohmann::json;

// ---- lexer

enum class Tok {
  kError, kEOF, kText, kLeftDelim, kRightDelim, kSpace, kIdentifier, kField,
  kVariable, kDot, kString, kRawString, kCharConst, kNumber, kBool, kNil,
  kPipe, kLeftParen, kRightParen, kDeclare, kAssign, kChar,
  // keywords
  kIf, kElse, kEnd, kRange, kWith, kBreak, kContinue, kDefine, kTemplate,
  kBlock,
};

struct Token {
  Tok type;
  size_t pos;       // byte offset in the template text
  std::string val;  // source text, or the message for kError
};

// The whole token stream; ends with kEOF or with one kError.
std::vector<Token> lex(std::string_view text);

// ---- syntax tree (mirrors Go's parse package so error contexts match)

struct Pipe;

struct Arg {
  enum Kind { kField, kVariable, kDot, kNil, kBool, kNumber, kString, kIdent, kPipe, kChain };
  Kind kind;
  size_t pos = 0;
  std::string text;                 // kString/kNumber: as written; kIdent/kVariable: name
  std::vector<std::string> fields;  // kField, kVariable ($x.A), kChain
  json value;                       // literal constant (kBool/kNumber/kString)
  bool is_int = false;              // kNumber: usable as an integer argument
  std::shared_ptr<Pipe> pipe;       // kPipe, kChain (when chained on a pipe)
  std::shared_ptr<Arg> base;        // kChain: the term the fields apply to
};

struct Command {
  size_t pos = 0;
  std::vector<Arg> args;
};

struct Pipe {
  size_t pos = 0;
  bool is_assign = false;
  std::vector<std::string> decl;  // variable names, "$x"
  std::vector<Command> cmds;
};

struct Node {
  enum Kind { kText, kAction, kIf, kRange, kWith, kBreak, kContinue };
  Kind kind;
  size_t pos = 0;
  std::string text;  // kText
  Pipe pipe;         // kAction and control nodes
  std::vector<Node> list, else_list;
};

struct Tree {
  std::string text;  // kept for error positions
  std::vector<Node> root;
};

// Parses into t->root; throws berth::Error.
void parse_into(Tree& t);

// Go's String() of each node, used as the <context> of execution errors.
std::string to_string(const Arg& a);
std::string to_string(const Command& c);
std::string to_string(const Pipe& p);
std::string to_string(const Node& n);

// ---- evaluation helpers (template_funcs.cc)

// Go's fmt.Sprint/Sprintln/Sprintf over JSON values; nullptr is Go's nil.
std::string go_sprint(const std::vector<const json*>& args, bool ln);
std::string go_sprintf(std::string_view format, const std::vector<const json*>& args);
// encoding/json output as docker's json function produces it.
std::string go_json(const json* v);
// Go's type name for an interface{} holding v, as in error messages.
std::string go_type(const json* v);
// Go's %v of a float64.
std::string go_float(double d);
size_t rune_count(std::string_view s);

}  // namespace berth::cli::tmpl

namespace berth::cli::tmpl {
// True if `name` is a function templates may call (checked at parse time,
// as Go does).
bool is_function(std::string_view name);
}  // namespace berth::cli::tmpl

namespace berth::cli::tmpl {

// A value during execution. A null `p` is Go's invalid reflect.Value (a
// missing map key, a nil result); `iface` marks a value still wrapped in
// interface{} (a map or slice element), which changes some Go messages and
// makes a JSON null there a "nil pointer" rather than "<no value>".
struct Val {
  std::shared_ptr<const json> p;
  bool iface = false;
  explicit operator bool() const { return p != nullptr; }
  const json* get() const { return p.get(); }
  const json& operator*() const { return *p; }
  const json* operator->() const { return p.get(); }
};
inline Val own(json j) { return Val{std::make_shared<const json>(std::move(j)), false}; }
// An element of `parent`, sharing its lifetime.
inline Val child(const Val& parent, const json& elem) { return Val{std::shared_ptr<const json>(parent.p, &elem), true}; }

// Thrown by function bodies; the evaluator reports "error calling NAME: msg".
struct FuncError {
  std::string msg;
};

// How an argument is evaluated and checked, after Go's parameter types.
enum class Param { kAny, kString, kInt, kStrings };

struct Func {
  std::string_view name;
  std::vector<Param> params;  // with `variadic`, the last one repeats
  bool variadic;
  Val (*fn)(const std::vector<Val>& args);
};

// The function `name` as seen by a body (header = docker's HeaderFunctions).
const Func* find_func(std::string_view name, bool header);
bool truth(const Val& v);
int64_t int_of(const json& v);  // a value validated as Param::kInt

// Appends code point r encoded as UTF-8 (the lexer's escapes, printf %c/%q).
void append_utf8(std::string& out, uint32_t r);

}  // namespace berth::cli::tmpl
