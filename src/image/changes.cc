// Word splitting follows the Dockerfile parser (parseWords: quotes and the
// escape "\" keep a word together, the characters themselves stay in the
// word) and each word is then expanded as BuildKit's shell lexer does
// (ProcessWord: quotes removed, escapes applied, variables substituted).
#include "image/changes.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::image {

namespace {

using ojson = nlohmann::ordered_json;

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

// The Dockerfile parser's parseWords.
std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false, blank_ok = false;
  char quote = 0;
  auto flush = [&] {
    if (blank_ok || !word.empty()) words.push_back(word);
    word.clear();
    blank_ok = false;
    in_word = false;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote != '\'' && i + 1 < s.size()) word += s[i++];
      word += s[i];
      continue;
    }
    if (is_space(c)) {
      if (in_word) flush();
      continue;
    }
    in_word = true;
    if (c == '\'' || c == '"') {
      quote = c;
      blank_ok = true;
    } else if (c == '\\') {
      if (i + 1 == s.size()) continue;  // a trailing escape is dropped
      word += s[i++];
    }
    word += s[i];
  }
  if (in_word) flush();
  return words;
}

class Expander {
 public:
  explicit Expander(const ojson& config) {
    if (config.contains("Env") && config["Env"].is_array())
      for (const auto& kv : config["Env"]) env_.push_back(kv.get<std::string>());
  }

  // BuildKit's ProcessWord for one word.
  std::string word(std::string_view s) const {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '\'') {
        size_t end = s.find('\'', i + 1);
        if (end == std::string_view::npos) fail("unexpected end of statement while looking for matching single-quote");
        out += s.substr(i + 1, end - i - 1);
        i = end + 1;
      } else if (c == '"') {
        ++i;
        while (true) {
          if (i >= s.size()) fail("unexpected end of statement while looking for matching double-quote");
          char d = s[i];
          if (d == '"') {
            ++i;
            break;
          }
          if (d == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == '$')) {
            out += s[i + 1];
            i += 2;
          } else if (d == '$') {
            out += variable(s, &i);
          } else {
            out += d;
            ++i;
          }
        }
      } else if (c == '\\') {
        if (i + 1 < s.size()) out += s[i + 1];
        else out += c;
        i += 2;
      } else if (c == '$') {
        out += variable(s, &i);
      } else {
        out += c;
        ++i;
      }
    }
    return out;
  }

  std::optional<std::string> get(std::string_view name) const {
    for (auto it = env_.rbegin(); it != env_.rend(); ++it)
      if (it->size() > name.size() && it->starts_with(name) && (*it)[name.size()] == '=')
        return it->substr(name.size() + 1);
    return std::nullopt;
  }

 private:
  static bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

  // At s[*i] == '$': $name, ${name}, ${name:-word}, ${name:+word}.
  std::string variable(std::string_view s, size_t* i) const {
    size_t p = *i + 1;
    if (p < s.size() && s[p] == '{') {
      size_t end = s.find('}', p);
      if (end == std::string_view::npos) fail("missing '}}' in {}", std::string(s));
      std::string_view inner = s.substr(p + 1, end - p - 1);
      *i = end + 1;
      size_t op = inner.find(':');
      std::string_view name = inner.substr(0, op);
      if (name.empty() || !std::all_of(name.begin(), name.end(), name_char)) fail("bad substitution: ${{{}}}", std::string(inner));
      auto v = get(name);
      if (op == std::string_view::npos) return v.value_or("");
      std::string_view rest = inner.substr(op + 1);
      if (rest.starts_with('-')) return v && !v->empty() ? *v : word(rest.substr(1));
      if (rest.starts_with('+')) return v && !v->empty() ? word(rest.substr(1)) : "";
      fail("unsupported modifier ({}) in substitution", std::string(rest.substr(0, 1)));
    }
    size_t end = p;
    while (end < s.size() && name_char(s[end])) ++end;
    *i = end;
    if (end == p) return "$";
    return get(s.substr(p, end - p)).value_or("");
  }

  std::vector<std::string> env_;
};

// JSON form ("[...]" parsing as an array of strings) or nullopt for the shell form.
std::optional<std::vector<std::string>> json_args(std::string_view rest) {
  if (!rest.starts_with('[')) return std::nullopt;
  auto j = nlohmann::json::parse(rest, nullptr, false);
  if (!j.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string()) return std::nullopt;
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::vector<std::string> command(std::string_view name, std::string_view rest) {
  if (auto a = json_args(rest)) return *a;
  if (rest.empty()) fail("{} requires at least one argument", name);
  return {"/bin/sh", "-c", std::string(rest)};
}

// ENV and LABEL: "k=v k2=v2" or the legacy "k value".
std::vector<std::pair<std::string, std::string>> key_values(std::string_view name, std::string_view rest,
                                                            const Expander& x) {
  std::vector<std::string> words = split_words(rest);
  if (words.empty()) fail("{} requires at least one argument", name);
  std::vector<std::pair<std::string, std::string>> out;
  if (words[0].find('=') == std::string::npos) {
    size_t ws = rest.find_first_of(" \t");
    if (ws == std::string_view::npos) fail("{} must have two arguments", name);
    out.emplace_back(x.word(rest.substr(0, ws)), x.word(trim(rest.substr(ws))));
  } else {
    for (const auto& w : words) {
      size_t eq = w.find('=');
      if (eq == std::string::npos)
        fail("Syntax error - can't find = in \"{}\". Must be of the form: name=value", w);
      if (eq == 0) fail("{} names can not be blank", name);
      out.emplace_back(x.word(w.substr(0, eq)), x.word(w.substr(eq + 1)));
    }
  }
  return out;
}

std::vector<std::string> expanded_words(std::string_view rest, const Expander& x) {
  std::vector<std::string> out;
  for (const auto& w : split_words(rest)) out.push_back(x.word(w));
  return out;
}

bool parse_port(std::string_view s, unsigned* out) {
  unsigned long long v;
  if (!parse_uint64(s, &v) || v > 65535) return false;
  *out = static_cast<unsigned>(v);
  return true;
}

void expose(ojson* config, const std::vector<std::string>& specs) {
  if (specs.empty()) fail("EXPOSE requires at least one argument");
  ojson& ports = (*config)["ExposedPorts"];
  if (!ports.is_object()) ports = ojson::object();
  for (const auto& spec : specs) {
    std::string_view range = spec, proto = "tcp";
    if (size_t slash = spec.find('/'); slash != std::string::npos) {
      range = std::string_view(spec).substr(0, slash);
      proto = std::string_view(spec).substr(slash + 1);
    }
    std::string p = [&] {
      std::string l(proto);
      std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
      return l;
    }();
    if (p != "tcp" && p != "udp" && p != "sctp") fail("EXPOSE: invalid proto: {}", std::string(proto));
    unsigned lo, hi;
    size_t dash = range.find('-');
    bool ok = dash == std::string_view::npos ? parse_port(range, &lo) && parse_port(range, &hi)
                                             : parse_port(range.substr(0, dash), &lo) &&
                                                   parse_port(range.substr(dash + 1), &hi);
    if (!ok || hi < lo) fail("EXPOSE: invalid port: {}", spec);
    for (unsigned port = lo; port <= hi; ++port) ports[std::to_string(port) + "/" + p] = ojson::object();
  }
}

void check_signal(const std::string& s) {
  static constexpr std::array<std::string_view, 31> kNames = {
      "HUP",  "INT",  "QUIT", "ILL",    "TRAP", "ABRT", "IOT",   "BUS",  "FPE",    "KILL", "USR1",
      "SEGV", "USR2", "PIPE", "ALRM",   "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP",  "TTIN",
      "TTOU", "URG",  "XCPU", "XFSZ",   "VTALRM", "PROF", "WINCH", "IO",  "PWR"};
  unsigned long long n;
  if (parse_uint64(s, &n)) {
    if (n == 0 || n > 64) fail("Invalid signal: {}", s);
    return;
  }
  std::string_view name = s;
  if (name.starts_with("SIG")) name.remove_prefix(3);
  if (std::find(kNames.begin(), kNames.end(), name) != kNames.end()) return;
  for (std::string_view rt : {"RTMIN", "RTMAX"}) {
    if (name == rt) return;
    if (name.starts_with(rt) && name.size() > rt.size() + 1 && (name[rt.size()] == '+' || name[rt.size()] == '-') &&
        parse_uint64(name.substr(rt.size() + 1), &n) && n <= 30)
      return;
  }
  fail("Invalid signal: {}", s);
}

// Go's time.ParseDuration (units ns us µs ms s m h, fractions), in nanoseconds.
long long parse_duration(std::string_view flag, std::string_view s) {
  auto bad = [&] { fail("HEALTHCHECK: invalid duration for --{}: {}", std::string(flag), std::string(s)); };
  if (s == "0") return 0;
  if (s.empty()) bad();
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    std::string_view num = s.substr(start, i - start);
    if (num.find_first_of("0123456789") == std::string_view::npos || std::count(num.begin(), num.end(), '.') > 1) bad();
    double v = std::stod(std::string(num));
    size_t ustart = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    double mul = unit == "ns" ? 1 : (unit == "us" || unit == "µs") ? 1e3 : unit == "ms" ? 1e6 : unit == "s" ? 1e9
                 : unit == "m" ? 60e9 : unit == "h" ? 3600e9 : -1;
    if (mul < 0) bad();
    total += v * mul;
  }
  return static_cast<long long>(total);
}

void healthcheck(ojson* config, std::string_view rest) {
  ojson hc = ojson::object();
  std::vector<std::pair<std::string, long long>> durations;
  long long retries = 0;
  while (rest.starts_with("--")) {
    size_t end = rest.find_first_of(" \t");
    std::string_view flag = rest.substr(2, end == std::string_view::npos ? std::string_view::npos : end - 2);
    rest = end == std::string_view::npos ? std::string_view() : trim(rest.substr(end));
    size_t eq = flag.find('=');
    if (eq == std::string_view::npos) fail("HEALTHCHECK: flag --{} needs a value", std::string(flag));
    std::string_view key = flag.substr(0, eq), value = flag.substr(eq + 1);
    if (key == "interval") durations.emplace_back("Interval", parse_duration(key, value));
    else if (key == "timeout") durations.emplace_back("Timeout", parse_duration(key, value));
    else if (key == "start-period") durations.emplace_back("StartPeriod", parse_duration(key, value));
    else if (key == "start-interval") durations.emplace_back("StartInterval", parse_duration(key, value));
    else if (key == "retries") {
      if (!parse_int64(value, &retries) || retries < 0) fail("HEALTHCHECK: invalid --retries: {}", std::string(value));
    } else {
      fail("HEALTHCHECK: unknown flag: --{}", std::string(key));
    }
  }
  size_t sp = rest.find_first_of(" \t");
  std::string kind = upper(rest.substr(0, sp));
  std::string_view args = sp == std::string_view::npos ? std::string_view() : trim(rest.substr(sp));
  if (kind == "NONE") {
    if (!args.empty()) fail("HEALTHCHECK NONE takes no arguments");
    if (!durations.empty() || retries) fail("HEALTHCHECK NONE takes no flags");
    (*config)["Healthcheck"] = {{"Test", {"NONE"}}};
    return;
  }
  if (kind != "CMD") fail("Unknown type \"{}\" in HEALTHCHECK (try CMD)", kind);
  ojson test = ojson::array();
  if (auto a = json_args(args)) {
    test.push_back("CMD");
    for (auto& s : *a) test.push_back(s);
  } else {
    if (args.empty()) fail("HEALTHCHECK CMD requires at least one argument");
    test = {"CMD-SHELL", std::string(args)};
  }
  hc["Test"] = test;
  for (auto& [k, v] : durations)
    if (v) hc[k] = v;
  if (retries) hc["Retries"] = retries;
  (*config)["Healthcheck"] = hc;
}

std::string workdir(const ojson& config, const std::string& dir) {
  std::string base = config.contains("WorkingDir") && config["WorkingDir"].is_string()
                         ? config["WorkingDir"].get<std::string>()
                         : std::string();
  if (dir.starts_with('/')) return clean_path(dir);
  return clean_path(path_join(base.empty() ? "/" : base, dir));
}

}  // namespace

void apply_change(ojson* config, std::string_view line) {
  line = trim(line);
  size_t sp = line.find_first_of(" \t");
  std::string name = upper(line.substr(0, sp));
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : trim(line.substr(sp));
  if (name.empty()) fail("empty change command");
  Expander x(*config);
  ojson& c = *config;
  try {
    if (name == "CMD") {
      c["Cmd"] = command(name, rest);
    } else if (name == "ENTRYPOINT") {
      c["Entrypoint"] = command(name, rest);
    } else if (name == "ENV") {
      ojson env = c.contains("Env") && c["Env"].is_array() ? c["Env"] : ojson::array();
      for (auto& [k, v] : key_values(name, rest, x)) {
        std::string entry = k + "=" + v;
        auto same = std::find_if(env.begin(), env.end(), [&](const ojson& e) {
          const auto& s = e.get_ref<const std::string&>();
          return s.size() > k.size() && s.starts_with(k) && s[k.size()] == '=';
        });
        if (same != env.end()) *same = entry;
        else env.push_back(entry);
      }
      c["Env"] = env;
    } else if (name == "LABEL") {
      if (!c.contains("Labels") || !c["Labels"].is_object()) c["Labels"] = ojson::object();
      for (auto& [k, v] : key_values(name, rest, x)) c["Labels"][k] = v;
    } else if (name == "EXPOSE") {
      expose(&c, expanded_words(rest, x));
    } else if (name == "USER") {
      if (rest.empty()) fail("USER requires exactly one argument");
      c["User"] = x.word(rest);
    } else if (name == "VOLUME") {
      std::vector<std::string> vols;
      if (auto a = json_args(rest)) {
        for (auto& v : *a) vols.push_back(x.word(v));
      } else {
        vols = expanded_words(rest, x);
      }
      if (vols.empty()) fail("VOLUME requires at least one argument");
      if (!c.contains("Volumes") || !c["Volumes"].is_object()) c["Volumes"] = ojson::object();
      for (auto& v : vols) {
        if (trim(v).empty()) fail("VOLUME specified can not be an empty string");
        c["Volumes"][v] = ojson::object();
      }
    } else if (name == "WORKDIR") {
      if (rest.empty()) fail("WORKDIR requires exactly one argument");
      c["WorkingDir"] = workdir(c, x.word(rest));
    } else if (name == "STOPSIGNAL") {
      std::string sig = x.word(rest);
      check_signal(sig);
      c["StopSignal"] = sig;
    } else if (name == "ONBUILD") {
      std::string trigger = upper(rest.substr(0, rest.find_first_of(" \t")));
      if (trigger.empty()) fail("ONBUILD requires at least one argument");
      if (trigger == "ONBUILD") fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger == "FROM" || trigger == "MAINTAINER") fail("{} isn't allowed as an ONBUILD trigger", trigger);
      if (!c.contains("OnBuild") || !c["OnBuild"].is_array()) c["OnBuild"] = ojson::array();
      c["OnBuild"].push_back(std::string(rest));
    } else if (name == "HEALTHCHECK") {
      healthcheck(&c, rest);
    } else {
      fail("{} is not a valid change command", name);
    }
  } catch (const Error& e) {
    if (std::string_view(e.what()).find(" is not a valid change command") != std::string_view::npos) throw;
    throw e.wrap(fmt::format("change \"{}\"", std::string(line)));
  }
}

void apply_changes(ojson* config, const std::vector<std::string>& changes) {
  for (const auto& ch : changes)
    for (const auto& line : split(ch, '\n'))  // docker joins --change values with newlines
      if (!trim(line).empty()) apply_change(config, line);
}

}  // namespace berth::image
