#include "object_verbs.h"

#include <cstdio>
#include <optional>

#include "base/strings.h"
#include "cli/formatters.h"
#include "cli/network_options.h"
#include "cli/template.h"
#include "cli/units.h"

namespace berth::cmd {
namespace {

[[noreturn]] void arg_error(const Context& ctx, const std::string& what, std::string_view hint) {
  throw Error(fmt::format("berth: '{}' {}\n\nUsage:  {}\n\n{} '{} --help' for more information", ctx.path, what,
                          ctx.usage, hint, ctx.path));
}

std::string arguments(size_t n) { return fmt::format("{} argument{}", n, n == 1 ? "" : "s"); }

// Go's json.Compact: the daemon's bytes without insignificant whitespace.
std::string compact_json(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '"') {
      size_t j = i + 1;
      while (j < raw.size() && raw[j] != '"') j += raw[j] == '\\' ? 2 : 1;
      out.append(raw.substr(i, j - i + 1));
      i = j;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out += c;
    }
  }
  return out;
}

}  // namespace

void exact_args(const Context& ctx, const Args& pos, size_t n) {
  if (pos.size() != n) arg_error(ctx, "requires " + arguments(n), "Run");
}

void no_positional_args(const Context& ctx, const Args& pos) {
  if (!pos.empty()) arg_error(ctx, "accepts no arguments", "Run");
}

void max_args(const Context& ctx, const Args& pos, size_t n) {
  // "SRun" is docker 28's own spelling for this one error.
  if (pos.size() > n) arg_error(ctx, "requires at most " + arguments(n), "SRun");
}

json filters(const std::vector<std::string>& values, std::string_view flag_shown) {
  json f = json::object();
  for (const std::string& v : values) {
    if (v.empty()) continue;
    size_t eq = v.find('=');
    if (eq == std::string::npos)
      throw cli::UsageError(fmt::format(
          "invalid argument {} for \"{}\" flag: bad format of filter (expected name=value)", cli::go_quote(v), flag_shown));
    std::string name(trim(v.substr(0, eq)));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    f[name][std::string(trim(v.substr(eq + 1)))] = true;
  }
  return f;
}

bool confirm(const std::string& warning) {
  std::printf("%s\nAre you sure you want to continue? [y/N] ", warning.c_str());
  std::fflush(stdout);
  std::string line;
  for (int c = std::getchar(); c != EOF && c != '\n'; c = std::getchar()) line += static_cast<char>(c);
  std::string_view answer = trim(line);
  return answer == "y" || answer == "Y";
}

int inspect_raw(const Args& names, const std::string& format, const RawGetter& get) {
  std::optional<cli::Template> tmpl;
  if (!format.empty() && format != "json") {
    try {
      tmpl = cli::Template::parse(format);
    } catch (const Error& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "template parsing error: %s\n", e.what());
      return 64;
    }
  }
  std::vector<std::string> raw, errors;
  std::string rendered;
  for (const std::string& name : names) {
    cli::Response r = get(name);
    if (r.status >= 400) {
      errors.push_back("Error response from daemon: " + cli::error_message(r.body));
      continue;
    }
    if (!tmpl) {
      raw.push_back(r.body);
      continue;
    }
    try {
      rendered += tmpl->execute(json::parse(r.body)) + "\n";
    } catch (const Error& e) {
      errors.push_back(std::string("template parsing error: ") + e.what());
    }
  }
  if (tmpl) {
    std::fputs(rendered.empty() ? "\n" : rendered.c_str(), stdout);
  } else {
    std::string all = "[" + join(raw, ",") + "]";
    std::printf("%s\n", format.empty() ? cli::indent_json(all).c_str() : compact_json(all).c_str());
  }
  std::fflush(stdout);
  for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  return errors.empty() ? 0 : 1;
}

std::vector<std::string> csv_list(const cli::FlagSet& flags, std::string_view name) {
  std::vector<std::string> out;
  for (const std::string& v : flags.list(name)) {
    try {
      auto fields = cli::csv_fields(v);
      out.insert(out.end(), fields.begin(), fields.end());
    } catch (const Error& e) {
      throw cli::UsageError(fmt::format("invalid argument {} for \"--{}\" flag: {}", cli::go_quote(v), name, e.what()));
    }
  }
  return out;
}

void check_labels(const std::vector<std::string>& labels) {
  for (const std::string& l : labels)
    if (std::string why = cli::label_error(l); !why.empty())
      throw cli::UsageError(fmt::format("invalid argument {} for \"--label\" flag: {}", cli::go_quote(l), why));
}

}  // namespace berth::cmd
