// Docker-compatible command-line flags (spf13/pflag's rules, as the docker
// CLI parses them).
//
// Contract: a FlagSet knows each flag by a long name and an optional one-letter
// shorthand. parse() accepts `--name value`, `--name=value`, `-n value`,
// `-nvalue`, `-n=value`, combined booleans (`-it`), `--bool=false`, and `--`.
// With stop_at_first_positional() (run, create, exec) the first argument that
// is not a flag ends parsing: it and everything after it are positionals,
// so `run IMAGE ls -l` gives `-l` to the container. Bad flags throw
// UsageError worded as pflag words them ("unknown flag: --foo",
// "flag needs an argument: 'e' in -e"). Values stay strings: the command
// converts them, so its error can name the flag.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::cli {

// A mistake in how a command was typed; the CLI prints it with a usage hint
// and exits 125 (or 1 for argument-count errors, as docker does).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& msg, int status = 125) : Error(msg), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

class FlagSet {
 public:
  enum class Kind { kBool, kValue, kList };

  // `names` is "long" or "s,long" (shorthand first, as docker's help shows it).
  void add_bool(std::string_view names, std::string_view help, bool def = false);
  void add_value(std::string_view names, std::string_view help, std::string_view def = "");
  void add_list(std::string_view names, std::string_view help);
  void stop_at_first_positional() { interspersed_ = false; }

  // Parses `args` (without the verb) and returns the positionals.
  std::vector<std::string> parse(std::span<const std::string> args);

  bool on(std::string_view name) const;                    // a bool flag's value
  const std::string& value(std::string_view name) const;   // last value or the default
  const std::vector<std::string>& list(std::string_view name) const;
  bool changed(std::string_view name) const;               // given on the command line
  // Help lines for every flag, aligned the way docker's help aligns them.
  std::string help() const;

 private:
  struct Flag {
    std::string name;
    char shorthand = 0;
    Kind kind = Kind::kBool;
    std::string help;
    std::string def;
    std::vector<std::string> values;
    bool changed = false;
  };
  Flag& add(std::string_view names, Kind kind, std::string_view help);
  Flag* find_long(std::string_view name);
  Flag* find_short(char c);
  const Flag& get(std::string_view name) const;
  static void set(Flag& f, const std::string& v, std::string_view shown);

  std::vector<Flag> flags_;
  bool interspersed_ = true;
};

// "true"/"false" and the other spellings Go's strconv.ParseBool accepts.
bool parse_bool(std::string_view s, bool* out);

}  // namespace berth::cli
