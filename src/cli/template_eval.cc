// Executes a parsed template, following text/template/exec.go: the same
// variable scoping, the same "final value" threading through pipelines, and
// the same node positions and texts in error messages.
#include <algorithm>

#include "base/error.h"
#include "cli/template.h"
#include "cli/template_internal.h"

namespace berth::cli {
namespace tmpl {
namespace {

enum class Flow { kNormal, kBreak, kContinue };

// What an error points at: Go prints the node's position and its text.
struct At {
  size_t pos;
  const Arg* arg = nullptr;
  const Command* cmd = nullptr;
  const Node* node = nullptr;
  std::string text() const {
    return arg ? to_string(*arg) : cmd ? to_string(*cmd) : node ? to_string(*node) : "";
  }
};
At at(const Arg& a) { return At{a.pos, &a}; }
At at(const Command& c) { return At{c.pos, nullptr, &c}; }

class State {
 public:
  State(const Tree& t, bool header) : t_(t), header_(header) {}

  std::string run(const json& data) {
    Val root;
    if (!data.is_null()) root = Val{std::shared_ptr<const json>(std::shared_ptr<const json>(), &data), false};
    vars_.push_back({"$", root});
    walk(root, t_.root);
    return std::move(out_);
  }

 private:
  [[noreturn]] void errorf(const At& where, const std::string& msg) const {
    std::string_view before = std::string_view(t_.text).substr(0, where.pos);
    size_t nl = before.rfind('\n');
    size_t col = nl == std::string_view::npos ? where.pos : where.pos - nl - 1;
    size_t line = 1 + std::count(before.begin(), before.end(), '\n');
    std::string ctx = where.text();
    if (ctx.size() > 20) {
      size_t i = 0;
      for (int n = 0; n < 20 && i < ctx.size(); n++) {
        do i++;
        while (i < ctx.size() && (static_cast<unsigned char>(ctx[i]) & 0xC0) == 0x80);
      }
      ctx = ctx.substr(0, i) + "...";
    }
    fail("template: :{}:{}: executing \"\" at <{}>: {}", line, col, ctx, msg);
  }

  Flow walk(const Val& dot, const std::vector<Node>& list) {
    for (const Node& n : list) {
      Flow f = walk_node(dot, n);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  Flow walk_node(const Val& dot, const Node& n) {
    switch (n.kind) {
      case Node::kText:
        out_ += n.text;
        return Flow::kNormal;
      case Node::kAction: {
        Val v = eval_pipeline(dot, n.pipe);
        if (n.pipe.decl.empty()) out_ += v ? go_sprint({v.get()}, false) : "<no value>";
        return Flow::kNormal;
      }
      case Node::kIf:
      case Node::kWith: {
        size_t mark = vars_.size();
        Val v = eval_pipeline(dot, n.pipe);
        Flow f;
        if (truth(v)) f = walk(n.kind == Node::kWith ? v : dot, n.list);
        else f = walk(dot, n.else_list);
        vars_.resize(mark);
        return f;
      }
      case Node::kRange: {
        size_t mark = vars_.size();
        Flow f = walk_range(dot, n);
        vars_.resize(mark);
        return f;
      }
      case Node::kBreak: return Flow::kBreak;
      case Node::kContinue: return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  Flow walk_range(const Val& dot, const Node& r) {
    Val val = eval_pipeline(dot, r.pipe);
    const Pipe& p = r.pipe;
    size_t mark = vars_.size();
    // One pass of the body with $i, $v (or just $v) bound as Go binds them.
    auto iteration = [&](Val index, Val elem) {
      if (!p.decl.empty()) {
        if (p.is_assign) set_var(r, p.decl[0], p.decl.size() > 1 ? index : elem);
        else vars_[vars_.size() - 1].second = elem;
      }
      if (p.decl.size() > 1) {
        if (p.is_assign) set_var(r, p.decl[1], elem);
        else vars_[vars_.size() - 2].second = index;
      }
      Flow f = walk(elem, r.list);
      vars_.resize(mark);
      return f;
    };
    if (val && val->is_array() && !val->empty()) {
      for (size_t i = 0; i < val->size(); i++) {
        if (iteration(own(static_cast<int64_t>(i)), child(val, (*val)[i])) == Flow::kBreak) break;
      }
      return Flow::kNormal;
    }
    if (val && val->is_object() && !val->empty()) {
      for (const auto& [k, v] : val->items()) {
        if (iteration(own(k), child(val, v)) == Flow::kBreak) break;
      }
      return Flow::kNormal;
    }
    if (val && !val->is_array() && !val->is_object()) {
      errorf(At{r.pos, nullptr, nullptr, &r}, "range can't iterate over " + go_sprint({val.get()}, false));
    }
    return walk(dot, r.else_list);
  }

  Val eval_pipeline(const Val& dot, const Pipe& pipe) {
    Val value;
    bool has_final = false;
    for (const Command& cmd : pipe.cmds) {
      value = eval_command(dot, cmd, has_final ? &value : nullptr);
      has_final = true;
      // Go unwraps interface{} results here: a nil becomes "no value".
      if (value && value->is_null()) value = Val{};
      value.iface = false;
    }
    for (const std::string& name : pipe.decl) {
      if (pipe.is_assign) set_var(At{pipe.pos}, name, value);
      else vars_.push_back({name, value});
    }
    return value;
  }

  void not_a_function(const Command& cmd, const Val* final) {
    if (cmd.args.size() > 1 || final) {
      errorf(at(cmd.args[0]), "can't give argument to non-function " + to_string(cmd.args[0]));
    }
  }

  Val eval_command(const Val& dot, const Command& cmd, const Val* final) {
    const Arg& first = cmd.args[0];
    switch (first.kind) {
      case Arg::kField: return eval_field_chain(dot, first, dot, first.fields, cmd.args.size() > 1 || final);
      case Arg::kChain: return eval_chain(dot, first, cmd.args.size() > 1 || final);
      case Arg::kIdent: return eval_function(dot, first, cmd.args, at(cmd), final);
      case Arg::kPipe:
        not_a_function(cmd, final);
        return eval_pipeline(dot, *first.pipe);
      case Arg::kVariable: {
        Val v = var_value(first);
        if (first.fields.empty()) {
          not_a_function(cmd, final);
          return v;
        }
        return eval_field_chain(dot, first, v, first.fields, cmd.args.size() > 1 || final);
      }
      default: break;
    }
    not_a_function(cmd, final);
    switch (first.kind) {
      case Arg::kDot: return dot;
      case Arg::kNil: errorf(at(first), "nil is not a command");
      default: return own(first.value);
    }
  }

  Val var_value(const Arg& v) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
      if (it->first == v.text) return it->second;
    }
    errorf(at(v), "undefined variable: " + v.text);
  }

  void set_var(const At& where, const std::string& name, const Val& value) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
      if (it->first == name) {
        it->second = value;
        return;
      }
    }
    errorf(where, "undefined variable: " + name);
  }
  void set_var(const Node& n, const std::string& name, const Val& value) {
    set_var(At{n.pos, nullptr, nullptr, &n}, name, value);
  }

  Val eval_chain(const Val& dot, const Arg& chain, bool has_args) {
    if (chain.base->kind == Arg::kNil) errorf(at(chain), "indirection through explicit nil in " + to_string(chain));
    Val v = eval_arg(dot, *chain.base, Param::kAny);
    return eval_field_chain(dot, chain, v, chain.fields, has_args);
  }

  Val eval_field_chain(const Val& dot, const Arg& node, Val receiver, const std::vector<std::string>& fields,
                       bool has_args) {
    (void)dot;
    for (size_t i = 0; i < fields.size(); i++) {
      receiver = eval_field(node, fields[i], receiver, has_args && i + 1 == fields.size());
    }
    return receiver;
  }

  // Objects behave as Go maps under the default missingkey option.
  Val eval_field(const Arg& node, const std::string& name, const Val& receiver, bool has_args) {
    if (!receiver) return Val{};
    if (receiver->is_null()) errorf(at(node), "nil pointer evaluating interface {}." + name);
    if (receiver->is_object()) {
      if (has_args) errorf(at(node), name + " is not a method but has arguments");
      auto it = receiver->find(name);
      if (it == receiver->end()) return Val{};
      return child(receiver, *it);
    }
    errorf(at(node), "can't evaluate field " + name + " in type " +
                         (receiver.iface ? std::string("interface {}") : go_type(receiver.get())));
  }

  Val eval_function(const Val& dot, const Arg& ident, const std::vector<Arg>& args, const At& cmd,
                    const Val* final) {
    const Func* f = find_func(ident.text, header_);
    if (f == nullptr) errorf(at(ident), "\"" + ident.text + "\" is not a defined function");
    size_t given = args.size() - 1 + (final ? 1 : 0);
    size_t fixed = f->variadic ? f->params.size() - 1 : f->params.size();
    if (f->variadic && given < fixed) {
      errorf(at(ident), "wrong number of args for " + ident.text + ": want at least " + std::to_string(fixed) +
                            " got " + std::to_string(args.size() - 1));
    }
    if (!f->variadic && given != fixed) {
      errorf(at(ident), "wrong number of args for " + ident.text + ": want " + std::to_string(fixed) + " got " +
                            std::to_string(given));
    }
    if (ident.text == "and" || ident.text == "or") {
      // Short-circuit: the first falsy (and) or truthy (or) argument wins.
      bool is_or = ident.text == "or";
      Val v;
      for (size_t i = 1; i < args.size(); i++) {
        v = eval_arg(dot, args[i], Param::kAny);
        if (truth(v) == is_or) return v;
      }
      return final ? *final : v;
    }
    std::vector<Val> argv;
    for (size_t i = 1; i < args.size(); i++) {
      Param p = f->params[std::min(i - 1, f->params.size() - 1)];
      argv.push_back(eval_arg(dot, args[i], p));
    }
    if (final) argv.push_back(validate(cmd, *final, f->params[std::min(argv.size(), f->params.size() - 1)]));
    try {
      return f->fn(argv);
    } catch (const FuncError& e) {
      errorf(cmd, "error calling " + ident.text + ": " + e.msg);
    }
  }

  static const char* param_type(Param p) {
    switch (p) {
      case Param::kString: return "string";
      case Param::kInt: return "int";
      case Param::kStrings: return "[]string";
      default: return "interface {}";
    }
  }

  // Go's validateType: an evaluated value must fit the parameter's type.
  Val validate(const At& where, const Val& v, Param p) {
    if (p == Param::kAny) return v;
    if (!v) errorf(where, std::string("invalid value; expected ") + param_type(p));
    bool ok = false;
    switch (p) {
      case Param::kString: ok = v->is_string(); break;
      case Param::kInt: ok = go_type(v.get()) == "int"; break;
      case Param::kStrings:
        ok = v->is_array() && std::all_of(v->begin(), v->end(), [](const json& e) { return e.is_string(); });
        break;
      default: break;
    }
    if (!ok) {
      std::string got = v->is_null() ? "interface {}" : go_type(v.get());
      errorf(where, std::string("wrong type for value; expected ") + param_type(p) + "; got " + got);
    }
    return v;
  }

  Val eval_arg(const Val& dot, const Arg& a, Param p) {
    switch (a.kind) {
      case Arg::kDot: return validate(at(a), dot, p);
      case Arg::kNil:
        if (p == Param::kAny || p == Param::kStrings) return Val{};
        errorf(at(a), std::string("cannot assign nil to ") + param_type(p));
      case Arg::kField: return validate(at(a), eval_field_chain(dot, a, dot, a.fields, false), p);
      case Arg::kVariable: {
        Val v = var_value(a);
        if (!a.fields.empty()) v = eval_field_chain(dot, a, v, a.fields, false);
        return validate(at(a), v, p);
      }
      case Arg::kPipe: return validate(at(a), eval_pipeline(dot, *a.pipe), p);
      case Arg::kIdent: return validate(at(a), eval_function(dot, a, {a}, at(a), nullptr), p);
      case Arg::kChain: return validate(at(a), eval_chain(dot, a, false), p);
      default: break;
    }
    switch (p) {
      case Param::kAny: return own(a.value);
      case Param::kString:
        if (a.kind == Arg::kString) return own(a.value);
        errorf(at(a), "expected string; found " + to_string(a));
      case Param::kInt:
        if (a.kind == Arg::kNumber && a.is_int) return own(a.value);
        errorf(at(a), "expected integer; found " + to_string(a));
      case Param::kStrings: errorf(at(a), "can't handle " + to_string(a) + " for arg of type []string");
    }
    return Val{};
  }

  const Tree& t_;
  bool header_;
  std::string out_;
  std::vector<std::pair<std::string, Val>> vars_;
};

}  // namespace
}  // namespace tmpl

Template Template::parse(std::string_view text) {
  auto t = std::make_shared<tmpl::Tree>();
  t->text = std::string(text);
  tmpl::parse_into(*t);
  return Template(std::move(t));
}

std::string Template::execute(const nlohmann::json& data) const { return tmpl::State(*tree_, false).run(data); }

std::string Template::execute_header(const nlohmann::json& header) const {
  return tmpl::State(*tree_, true).run(header);
}

}  // namespace berth::cli
