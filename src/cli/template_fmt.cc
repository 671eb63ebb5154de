// Go's fmt and encoding/json output for JSON values, so that {{.X}},
// print/printf and json render byte-for-byte as docker does. Values are seen
// as json.Unmarshal would produce them (map[string]interface {},
// []interface {}, string, float64, bool, nil), except integers, which stay
// Go ints.
#include <charconv>
#include <cmath>
#include <cstdio>

#include "cli/template_internal.h"

namespace berth::cli::tmpl {
namespace {

// Decodes one UTF-8 sequence at s[i]; invalid input yields (0xFFFD, 1, false).
struct Rune {
  uint32_t r;
  size_t len;
  bool ok;
};
Rune decode(std::string_view s, size_t i) {
  unsigned char c = s[i];
  if (c < 0x80) return {c, 1, true};
  size_t n = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (c >= 0xF8) n = 0;
  if (n == 0 || i + n > s.size()) return {0xFFFD, 1, false};
  uint32_t r = c & (0x7F >> n);
  for (size_t k = 1; k < n; k++) {
    unsigned char cc = s[i + k];
    if ((cc & 0xC0) != 0x80) return {0xFFFD, 1, false};
    r = (r << 6) | (cc & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (r < kMin[n] || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) return {0xFFFD, 1, false};
  return {r, n, true};
}

void hex_escape(std::string& out, const char* prefix, uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%0*x", prefix, digits, v);
  out += buf;
}

// strconv.Quote / QuoteRune (printability approximated: everything from
// U+00A0 up counts as printable except a few invisible format characters).
std::string quote(std::string_view s, char q) {
  std::string out(1, q);
  for (size_t i = 0; i < s.size();) {
    Rune r = decode(s, i);
    if (!r.ok) {
      hex_escape(out, "\\x", static_cast<unsigned char>(s[i]), 2);
      i += 1;
      continue;
    }
    std::string_view raw = s.substr(i, r.len);
    i += r.len;
    if (r.r == static_cast<uint32_t>(q) || r.r == '\\') {
      out += '\\';
      out += static_cast<char>(r.r);
      continue;
    }
    bool printable = (r.r >= 0x20 && r.r < 0x7F) ||
                     (r.r >= 0xA0 && r.r != 0xAD && r.r != 0x2028 && r.r != 0x2029 && r.r != 0xFEFF);
    if (printable) {
      out += raw;
      continue;
    }
    switch (r.r) {
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default:
        if (r.r < ' ' || r.r == 0x7F) hex_escape(out, "\\x", r.r, 2);
        else if (r.r < 0x10000) hex_escape(out, "\\u", r.r, 4);
        else hex_escape(out, "\\U", r.r, 8);
    }
  }
  out += q;
  return out;
}

// A JSON integer that fits Go's int.
bool as_int(const json& v, int64_t& out) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
    out = static_cast<int64_t>(v.get<uint64_t>());
    return true;
  }
  return false;
}

// strconv.FormatFloat(d, fmt, prec, 64) for f/e/g (and F/E/G).
std::string format_float(double d, char fmt, int prec) {
  char lower = fmt | 0x20;
  std::string s;
  if (prec < 0) {
    char buf[64];
    if (lower == 'g') {
      s = go_float(d);
    } else {
      auto r = std::to_chars(buf, buf + sizeof buf, d,
                             lower == 'e' ? std::chars_format::scientific : std::chars_format::fixed);
      s.assign(buf, r.ptr);
    }
  } else {
    char spec[8] = {'%', '.', '*', lower, 0};
    int n = std::snprintf(nullptr, 0, spec, prec, d);
    s.resize(n + 1);
    std::snprintf(s.data(), s.size(), spec, prec, d);
    s.resize(n);
  }
  if (fmt != lower) {
    for (char& c : s) {
      if (c == 'e') c = 'E';
    }
  }
  return s;
}

struct Spec {
  bool minus = false, plus = false, sharp = false, space = false, zero = false;
  int width = -1, prec = -1;
};

class Printer {
 public:
  std::string out;

  void pad(std::string_view s, const Spec& f) {
    int fill = f.width - static_cast<int>(rune_count(s));
    if (fill <= 0) {
      out += s;
    } else if (f.minus) {
      out += s;
      out.append(fill, ' ');
    } else {
      out.append(fill, f.zero ? '0' : ' ');
      out += s;
    }
  }

  void fmt_integer(int64_t v, int base, char verb, Spec f) {
    bool negative = v < 0;
    uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    int prec = 0;
    if (f.prec >= 0) {
      prec = f.prec;
      if (prec == 0 && u == 0) {
        out.append(std::max(f.width, 0), ' ');
        return;
      }
    } else if (f.zero && !f.minus && f.width >= 0) {
      prec = f.width;
      if (negative || f.plus || f.space) prec--;
    }
    const char* digits = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string num;
    do {
      num.insert(num.begin(), digits[u % base]);
      u /= base;
    } while (u);
    while (static_cast<int>(num.size()) < prec) num.insert(num.begin(), '0');
    if (f.sharp) {
      if (base == 2) num = "0b" + num;
      if (base == 8 && num[0] != '0') num = "0" + num;
      if (base == 16) num = (verb == 'X' ? "0X" : "0x") + num;
    }
    if (verb == 'O') num = "0o" + num;
    if (negative) num = "-" + num;
    else if (f.plus) num = "+" + num;
    else if (f.space) num = " " + num;
    f.zero = false;
    pad(num, f);
  }

  void fmt_float(double d, char verb, int prec, Spec f) {
    if (f.prec >= 0) prec = f.prec;
    std::string num = format_float(d, verb, prec);
    if (num[0] != '-') num = "+" + num;
    if (f.space && num[0] == '+' && !f.plus) num[0] = ' ';
    if (f.plus || num[0] != '+') {
      if (f.zero && !f.minus && f.width > static_cast<int>(num.size())) {
        out += num[0];
        out.append(f.width - num.size(), '0');
        out.append(num, 1);
        return;
      }
      pad(num, f);
      return;
    }
    pad(std::string_view(num).substr(1), f);
  }

  // Truncates to f.prec runes, as %.Ns does.
  static std::string_view truncate(std::string_view s, const Spec& f) {
    if (f.prec < 0) return s;
    size_t i = 0;
    for (int n = 0; i < s.size() && n < f.prec; n++) i += decode(s, i).len;
    return s.substr(0, i);
  }

  void bad_verb(const json* v, char verb, const Spec& f) {
    out += "%!";
    out += verb;
    out += '(';
    if (v == nullptr) {
      out += "<nil>";
    } else {
      out += go_type(v);
      out += '=';
      print(v, 'v', f);
    }
    out += ')';
  }

  void print(const json* v, char verb, Spec f) {
    if (verb == 'T') {
      pad(go_type(v), f);
      return;
    }
    if (verb == 'v') f.plus = f.sharp = false;
    if (v == nullptr || v->is_null()) {
      if (verb == 'v') pad("<nil>", f);
      else bad_verb(nullptr, verb, f);
      return;
    }
    int64_t i = 0;
    switch (v->type()) {
      case json::value_t::boolean:
        if (verb == 't' || verb == 'v') pad(v->get<bool>() ? "true" : "false", f);
        else bad_verb(v, verb, f);
        return;
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
        if (!as_int(*v, i)) {  // beyond int64: print as Go's uint64 does in decimal
          if (verb == 'v' || verb == 'd') pad(std::to_string(v->get<uint64_t>()), f);
          else bad_verb(v, verb, f);
          return;
        }
        switch (verb) {
          case 'v': case 'd': fmt_integer(i, 10, verb, f); return;
          case 'b': fmt_integer(i, 2, verb, f); return;
          case 'o': case 'O': fmt_integer(i, 8, verb, f); return;
          case 'x': case 'X': fmt_integer(i, 16, verb, f); return;
          case 'c': {
            std::string s;
            append_utf8(s, i < 0 || i > 0x10FFFF ? 0xFFFD : static_cast<uint32_t>(i));
            pad(s, f);
            return;
          }
          case 'q': {
            std::string s;
            append_utf8(s, i < 0 || i > 0x10FFFF ? 0xFFFD : static_cast<uint32_t>(i));
            pad(quote(s, '\''), f);
            return;
          }
          case 'U': {
            char buf[32];
            std::snprintf(buf, sizeof buf, "U+%04llX", static_cast<unsigned long long>(i));
            pad(buf, f);
            return;
          }
        }
        bad_verb(v, verb, f);
        return;
      case json::value_t::number_float: {
        double d = v->get<double>();
        switch (verb) {
          case 'v': fmt_float(d, 'g', -1, f); return;
          case 'g': case 'G': fmt_float(d, verb, -1, f); return;
          case 'f': case 'F': case 'e': case 'E': fmt_float(d, verb == 'F' ? 'f' : verb, 6, f); return;
        }
        bad_verb(v, verb, f);
        return;
      }
      case json::value_t::string: {
        const std::string& s = v->get_ref<const std::string&>();
        switch (verb) {
          case 'v': case 's': pad(truncate(s, f), f); return;
          case 'q': pad(quote(truncate(s, f), '"'), f); return;
          case 'x': case 'X': {
            std::string_view b = s;
            if (f.prec >= 0 && static_cast<size_t>(f.prec) < b.size()) b = b.substr(0, f.prec);
            std::string h;
            for (unsigned char c : b) hex_escape(h, "", c, 2);
            if (verb == 'X') {
              for (char& c : h) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            }
            pad(h, f);
            return;
          }
        }
        bad_verb(v, verb, f);
        return;
      }
      case json::value_t::array: {
        out += '[';
        bool first = true;
        for (const auto& e : *v) {
          if (!first) out += ' ';
          first = false;
          print(&e, verb, f);
        }
        out += ']';
        return;
      }
      case json::value_t::object: {
        // Go's fmt prints maps with sorted keys; json objects already are.
        out += "map[";
        bool first = true;
        for (const auto& [k, e] : v->items()) {
          if (!first) out += ' ';
          first = false;
          json key = k;
          print(&key, verb, f);
          out += ':';
          print(&e, verb, f);
        }
        out += ']';
        return;
      }
      default:
        out += "?";
    }
  }
};

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      switch (c) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
      }
      if (c < 0x20) hex_escape(out, "\\u", c, 4);
      else out += static_cast<char>(c);
      continue;
    }
    Rune r = decode(s, i);
    if (!r.ok) out += "\\ufffd";
    else if (r.r == 0x2028 || r.r == 0x2029) hex_escape(out, "\\u", r.r, 4);
    else out += s.substr(i, r.len);
    i += r.len;
  }
  out += '"';
}

void json_value(std::string& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.items()) {
        if (!first) out += ',';
        first = false;
        json_string(out, k);
        out += ':';
        json_value(out, e);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ',';
        first = false;
        json_value(out, e);
      }
      out += ']';
      return;
    }
    case json::value_t::string: json_string(out, v.get_ref<const std::string&>()); return;
    case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return;
    case json::value_t::number_integer: out += std::to_string(v.get<int64_t>()); return;
    case json::value_t::number_unsigned: out += std::to_string(v.get<uint64_t>()); return;
    case json::value_t::number_float: {
      // encoding/json: shortest 'f', or 'e' outside [1e-6, 1e21), with the
      // exponent's leading zero dropped ("1e-07" -> "1e-7").
      double d = v.get<double>();
      double a = std::fabs(d);
      bool e = a != 0 && (a < 1e-6 || a >= 1e21);
      std::string s = format_float(d, e ? 'e' : 'f', -1);
      size_t n = s.size();
      if (e && n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
      out += s;
      return;
    }
    default: out += "null"; return;
  }
}

}  // namespace

size_t rune_count(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); n++) i += decode(s, i).len;
  return n;
}

std::string go_float(double d) {
  // strconv 'g' with shortest precision: %e form when the decimal exponent
  // is < -4 or >= 6 (hence 1e+06), else the shortest %f form.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  int exp = std::atoi(sci.c_str() + sci.find('e') + 1);
  if (exp < -4 || exp >= 6) return sci;
  r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string go_type(const json* v) {
  if (v == nullptr || v->is_null()) return "<nil>";
  int64_t i;
  switch (v->type()) {
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "bool";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return as_int(*v, i) ? "int" : "uint64";
    case json::value_t::number_float: return "float64";
    case json::value_t::array: return "[]interface {}";
    case json::value_t::object: return "map[string]interface {}";
    default: return "?";
  }
}

std::string go_sprint(const std::vector<const json*>& args, bool ln) {
  Printer p;
  bool prev_string = false;
  for (size_t i = 0; i < args.size(); i++) {
    bool is_string = args[i] && args[i]->is_string();
    if (i > 0 && (ln || (!is_string && !prev_string))) p.out += ' ';
    p.print(args[i], 'v', Spec{});
    prev_string = is_string;
  }
  if (ln) p.out += '\n';
  return std::move(p.out);
}

std::string go_sprintf(std::string_view format, const std::vector<const json*>& args) {
  Printer p;
  size_t arg = 0;
  size_t n = format.size();
  for (size_t i = 0; i < n;) {
    size_t pct = format.find('%', i);
    if (pct == std::string_view::npos) pct = n;
    p.out += format.substr(i, pct - i);
    if (pct >= n) break;
    i = pct + 1;
    Spec f;
    for (; i < n; i++) {
      char c = format[i];
      if (c == '#') f.sharp = true;
      else if (c == '0') f.zero = !f.minus;
      else if (c == '+') f.plus = true;
      else if (c == '-') f.minus = true, f.zero = false;
      else if (c == ' ') f.space = true;
      else break;
    }
    // Width and precision, each either digits or '*' (taken from an int arg).
    auto number = [&](int& out, bool is_prec) {
      if (i < n && format[i] == '*') {
        i++;
        int64_t v = 0;
        if (arg < args.size() && args[arg] && as_int(*args[arg], v) && v > -1000000 && v < 1000000) {
          out = static_cast<int>(v);
          if (!is_prec && out < 0) {
            f.minus = true;
            f.zero = false;
            out = -out;
          } else if (is_prec && out < 0) {
            out = -1;
          }
        } else {
          p.out += is_prec ? "%!(BADPREC)" : "%!(BADWIDTH)";
        }
        arg++;
        return;
      }
      size_t start = i;
      while (i < n && format[i] >= '0' && format[i] <= '9') i++;
      if (i > start) out = std::min(std::atoi(std::string(format.substr(start, i - start)).c_str()), 1000000);
      else if (is_prec) out = 0;
    };
    number(f.width, false);
    if (i < n && format[i] == '.') {
      i++;
      number(f.prec, true);
    }
    if (i >= n) {
      p.out += "%!(NOVERB)";
      break;
    }
    Rune verb = decode(format, i);
    i += verb.len;
    if (verb.r == '%') {
      p.out += '%';
      continue;
    }
    std::string vs;
    append_utf8(vs, verb.r);
    if (arg >= args.size()) {
      p.out += "%!" + vs + "(MISSING)";
      continue;
    }
    if (verb.r >= 0x80) {
      p.out += "%!" + vs + "(";
      p.out += go_type(args[arg]);
      if (args[arg]) {
        p.out += '=';
        p.print(args[arg], 'v', f);
      }
      p.out += ')';
      arg++;
      continue;
    }
    p.print(args[arg++], static_cast<char>(verb.r), f);
  }
  if (arg < args.size()) {
    p.out += "%!(EXTRA ";
    for (size_t k = arg; k < args.size(); k++) {
      if (k > arg) p.out += ", ";
      if (args[k] == nullptr || args[k]->is_null()) {
        p.out += "<nil>";
      } else {
        p.out += go_type(args[k]) + "=";
        p.print(args[k], 'v', Spec{});
      }
    }
    p.out += ')';
  }
  return std::move(p.out);
}

std::string go_json(const json* v) {
  std::string out;
  if (v == nullptr) return "null";
  json_value(out, *v);
  return out;
}

void append_utf8(std::string& out, uint32_t r) {
  if (r < 0x80) {
    out += static_cast<char>(r);
  } else if (r < 0x800) {
    out += static_cast<char>(0xC0 | (r >> 6));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else if (r < 0x10000) {
    out += static_cast<char>(0xE0 | (r >> 12));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (r >> 18));
    out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  }
}

}  // namespace berth::cli::tmpl
