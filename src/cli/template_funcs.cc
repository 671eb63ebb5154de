// The functions templates can call: Go's builtins and docker's additions
// (docker/cli templates.basicFunctions and HeaderFunctions). Bodies see
// already-checked arguments and report failures as FuncError, which the
// evaluator words as Go does ("error calling index: ...").
#include <algorithm>
#include <cctype>

#include "cli/template_internal.h"

namespace berth::cli::tmpl {
namespace {

using Args = std::vector<Val>;

[[noreturn]] void func_fail(std::string msg) { throw FuncError{std::move(msg)}; }

const std::string& str(const Val& v) { return v->get_ref<const std::string&>(); }

Val f_not(const Args& a) { return own(!truth(a[0])); }

Val f_len(const Args& a) {
  if (!a[0] || a[0]->is_null()) func_fail("len of nil pointer");
  const json& v = *a[0];
  if (v.is_string()) return own(static_cast<int64_t>(str(a[0]).size()));
  if (v.is_array() || v.is_object()) return own(static_cast<int64_t>(v.size()));
  func_fail("len of type " + go_type(&v));
}

// Go's indexArg: an integer index within [0, cap].
int64_t index_arg(const Val& i, size_t cap) {
  if (!i || i->is_null()) func_fail("cannot index slice/array with nil");
  if (!i->is_number_integer()) func_fail("cannot index slice/array with type " + go_type(i.get()));
  int64_t x = i->is_number_unsigned() ? static_cast<int64_t>(i->get<uint64_t>()) : i->get<int64_t>();
  if (x < 0 || static_cast<uint64_t>(x) > cap) func_fail("index out of range: " + std::to_string(x));
  return x;
}

Val f_index(const Args& a) {
  Val item = a[0];
  if (!item) func_fail("index of untyped nil");
  for (size_t k = 1; k < a.size(); k++) {
    if (item->is_null()) func_fail("index of nil pointer");
    const Val& i = a[k];
    if (item->is_array() || item->is_string()) {
      size_t len = item->is_array() ? item->size() : str(item).size();
      int64_t x = index_arg(i, len);
      if (static_cast<size_t>(x) == len) func_fail("index out of range: " + std::to_string(x));
      if (item->is_string()) {
        item = own(static_cast<int64_t>(static_cast<unsigned char>(str(item)[x])));
      } else {
        item = child(item, (*item)[x]);
      }
    } else if (item->is_object()) {
      if (!i || i->is_null()) func_fail("value is nil; should be of type string");
      if (!i->is_string()) func_fail("value has type " + go_type(i.get()) + "; should be string");
      auto it = item->find(str(i));
      static const json kNull;  // immutable; Go's zero interface{}
      item = it == item->end() ? Val{std::shared_ptr<const json>(item.p, &kNull), true} : child(item, *it);
    } else {
      func_fail("can't index item of type " + go_type(item.get()));
    }
  }
  return item;
}

Val f_slice(const Args& a) {
  const Val& item = a[0];
  if (!item || item->is_null()) func_fail("slice of untyped nil");
  size_t n = a.size() - 1;
  if (n > 3) func_fail("too many slice indexes: " + std::to_string(n));
  size_t cap;
  if (item->is_string()) {
    if (n == 3) func_fail("cannot 3-index slice a string");
    cap = str(item).size();
  } else if (item->is_array()) {
    cap = item->size();
  } else {
    func_fail("can't slice item of type " + go_type(item.get()));
  }
  int64_t idx[3] = {0, static_cast<int64_t>(cap), static_cast<int64_t>(cap)};
  for (size_t k = 0; k < n; k++) idx[k] = index_arg(a[k + 1], cap);
  if (idx[0] > idx[1]) func_fail("invalid slice index: " + std::to_string(idx[0]) + " > " + std::to_string(idx[1]));
  if (n == 3 && idx[1] > idx[2]) {
    func_fail("invalid slice index: " + std::to_string(idx[1]) + " > " + std::to_string(idx[2]));
  }
  if (item->is_string()) return own(str(item).substr(idx[0], idx[1] - idx[0]));
  json out = json::array();
  for (int64_t k = idx[0]; k < idx[1]; k++) out.push_back((*item)[k]);
  return own(std::move(out));
}

std::vector<const json*> ptrs(const Args& a, size_t from) {
  std::vector<const json*> out;
  for (size_t k = from; k < a.size(); k++) out.push_back(a[k].get());
  return out;
}

Val f_print(const Args& a) { return own(go_sprint(ptrs(a, 0), false)); }
Val f_println(const Args& a) { return own(go_sprint(ptrs(a, 0), true)); }
Val f_printf(const Args& a) { return own(go_sprintf(str(a[0]), ptrs(a, 1))); }

// Go's basicKind classes; kOther covers slices and maps.
enum Kind { kInvalid, kOther, kBool, kInt, kUint, kFloat, kString };
Kind kind_of(const Val& v) {
  if (!v || v->is_null()) return kInvalid;
  switch (v->type()) {
    case json::value_t::boolean: return kBool;
    case json::value_t::number_integer: return kInt;
    case json::value_t::number_unsigned:
      return v->get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX) ? kInt : kUint;
    case json::value_t::number_float: return kFloat;
    case json::value_t::string: return kString;
    default: return kOther;
  }
}

const char kIncompatible[] = "incompatible types for comparison";
const char kInvalidType[] = "invalid type for comparison";

// -1, 0, 1 for two values of one basic kind (or int against uint).
int compare(const Val& x, Kind kx, const Val& y, Kind ky) {
  if (kx == kUint || ky == kUint) {
    if (kx == kInt && x->get<int64_t>() < 0) return -1;
    if (ky == kInt && y->get<int64_t>() < 0) return 1;
    uint64_t a = x->get<uint64_t>(), b = y->get<uint64_t>();
    return a < b ? -1 : a > b;
  }
  switch (kx) {
    case kBool: return x->get<bool>() == y->get<bool>() ? 0 : 1;
    case kInt: {
      int64_t a = x->get<int64_t>(), b = y->get<int64_t>();
      return a < b ? -1 : a > b;
    }
    case kFloat: {
      double a = x->get<double>(), b = y->get<double>();
      return a < b ? -1 : a > b ? 1 : a == b ? 0 : 2;  // 2: NaN, unordered
    }
    case kString: {
      int c = str(x).compare(str(y));
      return c < 0 ? -1 : c > 0;
    }
    default: return 2;
  }
}

bool int_mix(Kind a, Kind b) { return (a == kInt && b == kUint) || (a == kUint && b == kInt); }

Val f_eq(const Args& a) {
  Kind k1 = kind_of(a[0]);
  if (a.size() < 2) func_fail("missing argument for comparison");
  for (size_t i = 1; i < a.size(); i++) {
    Kind k2 = kind_of(a[i]);
    bool t;
    if (k1 != k2 && !int_mix(k1, k2)) {
      if (k1 != kInvalid && k2 != kInvalid) func_fail(kIncompatible);
      t = false;
    } else if (k1 == kOther) {
      func_fail("non-comparable type " + go_sprint({a[i].get()}, false) + ": " + go_type(a[i].get()));
    } else if (k1 == kInvalid) {
      t = true;
    } else {
      t = compare(a[0], k1, a[i], k2) == 0;
    }
    if (t) return own(true);
  }
  return own(false);
}

Val f_ne(const Args& a) { return own(!f_eq(a)->get<bool>()); }

bool less(const Args& a) {
  Kind k1 = kind_of(a[0]), k2 = kind_of(a[1]);
  if (k1 == kInvalid || k1 == kOther || k2 == kInvalid || k2 == kOther) func_fail(kInvalidType);
  if (k1 != k2 && !int_mix(k1, k2)) func_fail(kIncompatible);
  if (k1 == kBool) func_fail(kInvalidType);
  return compare(a[0], k1, a[1], k2) == -1;
}
bool equal(const Args& a) { return f_eq(a)->get<bool>(); }

Val f_lt(const Args& a) { return own(less(a)); }
Val f_le(const Args& a) { return own(less(a) || equal(a)); }
Val f_gt(const Args& a) { return own(!(less(a) || equal(a))); }
Val f_ge(const Args& a) { return own(!less(a)); }

// and/or are evaluated lazily by the evaluator; these bodies are never run.
Val f_unreachable(const Args& a) { return a[0]; }

// docker's json: encoding/json with HTML escaping off, newline trimmed.
Val f_json(const Args& a) { return own(go_json(a[0].get())); }

Val f_join(const Args& a) {
  std::string out;
  bool first = true;
  for (const auto& e : *a[0]) {
    if (!first) out += str(a[1]);
    first = false;
    out += e.get_ref<const std::string&>();
  }
  return own(std::move(out));
}

// strings.Split: an empty separator splits after each UTF-8 sequence.
Val f_split(const Args& a) {
  const std::string& s = str(a[0]);
  const std::string& sep = str(a[1]);
  json out = json::array();
  if (sep.empty()) {
    for (size_t i = 0; i < s.size();) {
      size_t n = 1;
      while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) n++;
      out.push_back(s.substr(i, n));
      i += n;
    }
    return own(std::move(out));
  }
  size_t start = 0;
  for (size_t p; (p = s.find(sep, start)) != std::string::npos; start = p + sep.size()) {
    out.push_back(s.substr(start, p - start));
  }
  out.push_back(s.substr(start));
  return own(std::move(out));
}

// strings.Title for ASCII: upper-cases a letter that follows a separator
// (anything but a letter, digit or '_'); other bytes pass through.
Val f_title(const Args& a) {
  std::string s = str(a[0]);
  bool prev_sep = true;
  for (char& c : s) {
    unsigned char u = c;
    bool word = u >= 0x80 || std::isalnum(u) || c == '_';
    if (prev_sep && std::islower(u)) c = static_cast<char>(std::toupper(u));
    prev_sep = !word;
  }
  return own(std::move(s));
}

Val f_lower(const Args& a) {
  std::string s = str(a[0]);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return own(std::move(s));
}

Val f_upper(const Args& a) {
  std::string s = str(a[0]);
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return own(std::move(s));
}

// docker's padWithSpace: an empty string stays empty.
Val f_pad(const Args& a) {
  const std::string& s = str(a[0]);
  if (s.empty()) return own(s);
  int64_t l = int_of(*a[1]), r = int_of(*a[2]);
  if (l < 0 || r < 0) func_fail("strings: negative Repeat count");
  return own(std::string(l, ' ') + s + std::string(r, ' '));
}

// docker's truncateWithLength: cuts bytes, not runes.
Val f_truncate(const Args& a) {
  const std::string& s = str(a[0]);
  int64_t n = int_of(*a[1]);
  if (static_cast<int64_t>(s.size()) < n) return own(s);
  if (n < 0) func_fail("runtime error: slice bounds out of range [:" + std::to_string(n) + "]");
  return own(s.substr(0, n));
}

Val f_identity(const Args& a) { return a[0]; }

using P = Param;
const Func kFuncs[] = {
    {"and", {P::kAny}, true, f_unreachable},
    {"or", {P::kAny}, true, f_unreachable},
    {"not", {P::kAny}, false, f_not},
    {"len", {P::kAny}, false, f_len},
    {"index", {P::kAny, P::kAny}, true, f_index},
    {"slice", {P::kAny, P::kAny}, true, f_slice},
    {"print", {P::kAny}, true, f_print},
    {"println", {P::kAny}, true, f_println},
    {"printf", {P::kString, P::kAny}, true, f_printf},
    {"eq", {P::kAny, P::kAny}, true, f_eq},
    {"ne", {P::kAny, P::kAny}, false, f_ne},
    {"lt", {P::kAny, P::kAny}, false, f_lt},
    {"le", {P::kAny, P::kAny}, false, f_le},
    {"gt", {P::kAny, P::kAny}, false, f_gt},
    {"ge", {P::kAny, P::kAny}, false, f_ge},
    {"json", {P::kAny}, false, f_json},
    {"join", {P::kStrings, P::kString}, false, f_join},
    {"split", {P::kString, P::kString}, false, f_split},
    {"title", {P::kString}, false, f_title},
    {"lower", {P::kString}, false, f_lower},
    {"upper", {P::kString}, false, f_upper},
    {"pad", {P::kString, P::kInt, P::kInt}, false, f_pad},
    {"truncate", {P::kString, P::kInt}, false, f_truncate},
};

// docker's HeaderFunctions: keep the column title as it is.
const Func kHeaderFuncs[] = {
    {"json", {P::kString}, false, f_identity},
    {"split", {P::kString, P::kString}, false, f_identity},
    {"join", {P::kString, P::kString}, false, f_identity},
    {"title", {P::kString}, false, f_identity},
    {"lower", {P::kString}, false, f_identity},
    {"upper", {P::kString}, false, f_identity},
    {"truncate", {P::kString, P::kInt}, false, f_identity},
};

}  // namespace

const Func* find_func(std::string_view name, bool header) {
  if (header) {
    for (const auto& f : kHeaderFuncs) {
      if (f.name == name) return &f;
    }
  }
  for (const auto& f : kFuncs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool is_function(std::string_view name) { return find_func(name, false) != nullptr; }

int64_t int_of(const json& v) {
  return v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
}

bool truth(const Val& v) {
  if (!v) return false;
  const json& j = *v;
  switch (j.type()) {
    case json::value_t::boolean: return j.get<bool>();
    case json::value_t::number_integer: return j.get<int64_t>() != 0;
    case json::value_t::number_unsigned: return j.get<uint64_t>() != 0;
    case json::value_t::number_float: return j.get<double>() != 0;
    case json::value_t::string: return !j.get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object: return !j.empty();
    default: return false;
  }
}

}  // namespace berth::cli::tmpl
