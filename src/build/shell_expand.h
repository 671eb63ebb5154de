// Variable substitution in Dockerfile instruction arguments, as BuildKit's
// shell.Lex does it (frontend/dockerfile/shell/lex.go). Docker expands the
// arguments (and flag values such as --from, --chown, --platform) of FROM,
// ARG, ENV, LABEL, COPY, ADD, WORKDIR, USER, VOLUME, EXPOSE and STOPSIGNAL;
// never the command of RUN, CMD, ENTRYPOINT or HEALTHCHECK (a shell does).
//
// Contract:
//   - $NAME, ${NAME}: the value, "" when unset. A name is letters, digits
//     and "_" (a leading digit run is a whole name: "$1x" is $1 then "x");
//     $@ $* $# $? $- $$ $! $0 are one-character names. "$" before anything
//     else stays a literal "$".
//   - ${NAME:-word} ${NAME-word}  word when NAME is unset (":" also: empty)
//     ${NAME:+word} ${NAME+word}  word when NAME is set (":" also: non-empty)
//     ${NAME:?msg}  ${NAME?msg}   error "NAME: msg" ("is not allowed to be
//                                  unset" / "... empty" when msg is "")
//     ${NAME#pat} ${NAME##pat}     remove the shortest/longest matching prefix
//     ${NAME%pat} ${NAME%%pat}     remove the shortest/longest matching suffix
//     ${NAME/pat/repl} ${NAME//pat/repl}  replace the first/every match
//     Patterns: "*" any run, "?" one character (neither matches a newline),
//     "\*" "\?" "\\" literal, "\}" "\/" the brace/slash; anything else literal.
//     word, msg and repl are themselves expanded.
//   - '...' is literal; "..." expands $ and lets the escape character escape
//     only " $ and itself; outside quotes the escape character (\ or `, the
//     Dockerfile's escape directive) makes the next character literal and a
//     trailing one is dropped.
//   - process_word returns the whole result; process_words splits it at
//     whitespace the way docker does for EXPOSE/VOLUME-like lists: whitespace
//     from variable values and unquoted text separates words, quoted text and
//     escaped characters never do, and empty words are dropped.
//   - Every variable looked up is reported: `matched` (set) and `unmatched`
//     (unset), which is how the builder knows which build args a step used.
//   - Errors are berth::Error "failed to process \"<text>\": <reason>" with
//     BuildKit's reasons ("syntax error: bad substitution", "unexpected end of
//     statement while looking for matching double-quote", ...).
//
// Differences from BuildKit, all in malformed input: "${NAME" reports
// "syntax error: missing '}'" (BuildKit prints a U+FFFD modifier); every
// non-ASCII byte counts as a letter in names; the replacement of ${N//p/r}
// is literal (Go's ReplaceAllString would expand "$1" in it).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace berth::build {

// The value of a variable, nullopt when it is not set (set-but-empty is "").
using VariableLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Lookups over a map, and over a "K=V" environment list (later entries win;
// "K" alone is K set to ""). They refer to their argument: keep it alive.
VariableLookup lookup_in(const std::map<std::string, std::string, std::less<>>& vars);
VariableLookup lookup_in_env(const std::vector<std::string>& env);

struct Expansion {
  std::string word;                 // ProcessWord's result
  std::vector<std::string> words;   // ProcessWords' result
  std::set<std::string> matched;    // variables referenced that were set
  std::set<std::string> unmatched;  // variables referenced that were unset
};

class ShellLex {
 public:
  explicit ShellLex(char escape = '\\') : escape_(escape) {}

  // BuildKit's Lex options. The Dockerfile parser uses them to find heredoc
  // delimiters; the builder uses skip_quotes to expand heredoc bodies.
  ShellLex& raw_quotes(bool on) { raw_quotes_ = on; return *this; }    // keep quote characters
  ShellLex& raw_escapes(bool on) { raw_escapes_ = on; return *this; }  // keep escape characters
  ShellLex& skip_unset(bool on) { skip_unset_ = on; return *this; }    // leave unset $X / ${X..} as written
  ShellLex& skip_quotes(bool on) { skip_quotes_ = on; return *this; }  // quotes are ordinary characters

  char escape() const { return escape_; }

  Expansion expand(std::string_view text, const VariableLookup& vars) const;
  std::string process_word(std::string_view text, const VariableLookup& vars) const {
    return expand(text, vars).word;
  }
  std::vector<std::string> process_words(std::string_view text, const VariableLookup& vars) const {
    return expand(text, vars).words;
  }

 private:
  char escape_;
  bool raw_quotes_ = false;
  bool raw_escapes_ = false;
  bool skip_unset_ = false;
  bool skip_quotes_ = false;
};

// Go's strconv.Quote for the byte strings we meet (UTF-8 text kept as is):
// docker's messages quote names and values this way.
std::string go_quote(std::string_view s);

}  // namespace berth::build
