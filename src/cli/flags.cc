#include "cli/flags.h"

#include <algorithm>

namespace berth::cli {

bool parse_bool(std::string_view s, bool* out) {
  static constexpr std::string_view kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static constexpr std::string_view kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  if (std::find(std::begin(kTrue), std::end(kTrue), s) != std::end(kTrue)) return *out = true, true;
  if (std::find(std::begin(kFalse), std::end(kFalse), s) != std::end(kFalse)) return *out = false, true;
  return false;
}

FlagSet::Flag& FlagSet::add(std::string_view names, Kind kind, std::string_view help) {
  Flag f;
  if (names.size() > 2 && names[1] == ',') {
    f.shorthand = names[0];
    names.remove_prefix(2);
  }
  f.name = names;
  f.kind = kind;
  f.help = help;
  flags_.push_back(std::move(f));
  return flags_.back();
}

void FlagSet::add_bool(std::string_view names, std::string_view help, bool def) {
  add(names, Kind::kBool, help).def = def ? "true" : "false";
}
void FlagSet::add_value(std::string_view names, std::string_view help, std::string_view def) {
  add(names, Kind::kValue, help).def = def;
}
void FlagSet::add_list(std::string_view names, std::string_view help) { add(names, Kind::kList, help); }

FlagSet::Flag* FlagSet::find_long(std::string_view name) {
  for (auto& f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

FlagSet::Flag* FlagSet::find_short(char c) {
  for (auto& f : flags_)
    if (f.shorthand == c) return &f;
  return nullptr;
}

const FlagSet::Flag& FlagSet::get(std::string_view name) const {
  for (auto& f : flags_)
    if (f.name == name) return f;
  fail("internal: no flag --{}", name);
}

void FlagSet::set(Flag& f, const std::string& v, std::string_view shown) {
  if (f.kind == Kind::kBool) {
    bool b;
    if (!parse_bool(v, &b))
      throw UsageError(fmt::format("invalid argument \"{}\" for \"{}\" flag: strconv.ParseBool: parsing \"{}\": invalid syntax",
                                   v, shown, v));
    f.values = {b ? "true" : "false"};
  } else if (f.kind == Kind::kValue) {
    f.values = {v};
  } else {
    f.values.push_back(v);
  }
  f.changed = true;
}

std::vector<std::string> FlagSet::parse(std::span<const std::string> args) {
  std::vector<std::string> pos;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      pos.insert(pos.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      pos.push_back(a);
      if (!interspersed_) {
        pos.insert(pos.end(), args.begin() + i + 1, args.end());
        break;
      }
      continue;
    }
    if (a[1] == '-') {
      std::string_view body = std::string_view(a).substr(2);
      size_t eq = body.find('=');
      std::string_view name = body.substr(0, eq);
      Flag* f = find_long(name);
      if (!f) throw UsageError(fmt::format("unknown flag: --{}", name));
      std::string shown = fmt::format("--{}", f->name);
      if (eq != std::string_view::npos) {
        set(*f, std::string(body.substr(eq + 1)), shown);
      } else if (f->kind == Kind::kBool) {
        set(*f, "true", shown);
      } else if (i + 1 < args.size()) {
        set(*f, args[++i], shown);
      } else {
        throw UsageError(fmt::format("flag needs an argument: {}", shown));
      }
      continue;
    }
    // One or more shorthands: -it, -e K=V, -eK=V, -e=K=V.
    std::string_view rest = std::string_view(a).substr(1);
    while (!rest.empty()) {
      char c = rest[0];
      Flag* f = find_short(c);
      if (!f) throw UsageError(fmt::format("unknown shorthand flag: '{}' in {}", c, a));
      std::string shown = fmt::format("-{}, --{}", c, f->name);
      rest.remove_prefix(1);
      if (!rest.empty() && rest[0] == '=') {
        set(*f, std::string(rest.substr(1)), shown);
        break;
      }
      if (f->kind == Kind::kBool) {
        set(*f, "true", shown);
        continue;
      }
      if (!rest.empty()) {
        set(*f, std::string(rest), shown);
      } else if (i + 1 < args.size()) {
        set(*f, args[++i], shown);
      } else {
        throw UsageError(fmt::format("flag needs an argument: '{}' in -{}", c, c));
      }
      break;
    }
  }
  return pos;
}

bool FlagSet::on(std::string_view name) const {
  const Flag& f = get(name);
  return (f.values.empty() ? f.def : f.values.back()) == "true";
}

const std::string& FlagSet::value(std::string_view name) const {
  const Flag& f = get(name);
  return f.values.empty() ? f.def : f.values.back();
}

const std::vector<std::string>& FlagSet::list(std::string_view name) const { return get(name).values; }

bool FlagSet::changed(std::string_view name) const { return get(name).changed; }

std::string FlagSet::help() const {
  std::vector<std::pair<std::string, std::string>> rows;
  size_t width = 0;
  for (const auto& f : flags_) {
    std::string left = f.shorthand ? fmt::format("  -{}, --{}", f.shorthand, f.name) : fmt::format("      --{}", f.name);
    if (f.kind == Kind::kValue) left += " string";
    if (f.kind == Kind::kList) left += " list";
    width = std::max(width, left.size());
    std::string right = f.help;
    if (f.kind == Kind::kValue && !f.def.empty()) right += fmt::format(" (default {})", f.def);
    rows.emplace_back(std::move(left), std::move(right));
  }
  std::string out;
  for (auto& [l, r] : rows) out += fmt::format("{:<{}}   {}\n", l, width, r);
  return out;
}

}  // namespace berth::cli
