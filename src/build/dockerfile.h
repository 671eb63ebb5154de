// The Dockerfile front end: text -> instructions -> stages, as BuildKit's
// dockerfile/parser and dockerfile/instructions packages do it (docker 28).
//
// Reading the text:
//   - Parser directives ("# syntax=", "# escape=\" or "# escape=`",
//     "# check=" accepted and ignored; names case-insensitive) count only on
//     the lines before the first instruction, comment or blank line; after
//     that they are ordinary comments. A repeated one is an error.
//   - Comment lines (first non-blank character "#") and blank lines are
//     skipped, leading whitespace is ignored. A line ending in the escape
//     character (trailing blanks allowed, an escaped escape excepted)
//     continues on the next; comment lines and empty lines inside a
//     continuation are skipped. Continuation lines keep their leading
//     whitespace. A UTF-8 BOM and "\r\n" endings are accepted.
//   - RUN, COPY and ADD (also as ONBUILD triggers) in shell form take
//     heredocs: every "<<WORD", "<<-WORD", "3<<WORD" word of the line opens
//     one, read in order from the following lines up to a line equal to WORD
//     (with <<- leading tabs allowed before it). A quoted delimiter
//     (<<"EOF", <<'EOF', E"O"F) turns expansion of the body off.
//
// Arguments (nothing is expanded here; see shell_expand.h and the table):
//   FROM, EXPOSE             words split at blanks
//   RUN CMD ENTRYPOINT SHELL JSON array, else one arg: the rest of the line
//   COPY ADD VOLUME          JSON array, else words split at blanks (quotes kept)
//   ENV LABEL                `pairs`; args = key, value, key, value...
//   ARG                      words "name[=default]" (quotes kept); `pairs`
//   MAINTAINER USER WORKDIR STOPSIGNAL  one arg: the rest of the line
//   HEALTHCHECK              type, then the command as for CMD; `healthcheck`
//   ONBUILD                  trigger keyword as written, its args; `trigger`
// A line starting with "[" that is not a valid JSON array is shell form
// (as in docker); a JSON array holding a non-string is an error. Flags are
// the leading "--name[=value]" words (quotes and escapes removed, values
// unexpanded).
//
// Validation follows BuildKit (argument counts, flag names and values, FROM
// forms and stage names, ONBUILD triggers, HEALTHCHECK options, SHELL
// needing JSON, ...) with its messages. Errors are berth::Error
// "<name>:<line>: <message>" with the instruction's first line, e.g.
// "Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)"; the few
// errors about the whole file ("file with no instructions", "dockerfile
// contains no stages to build") have no "<name>:<line>: " prefix, like
// docker's.
//
// Stages: ARGs before the first FROM are the global section; each FROM
// starts a stage that runs to the next FROM. Any other instruction before
// the first FROM is "no build stage in current context".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::build {

struct Heredoc {
  std::string name;     // the delimiter, quotes removed: "EOF"
  std::string content;  // the body lines, each with its line ending, as written
  bool expand = true;   // false when the delimiter was quoted
  bool chomp = false;   // "<<-": leading tabs come off every body line
  unsigned fd = 0;      // "3<<EOF" -> 3; 0 when not given

  // The body as docker uses it: content, with leading tabs removed if chomp.
  std::string text() const;

  friend bool operator==(const Heredoc&, const Heredoc&) = default;
};

struct KeyValue {
  std::string key;
  std::optional<std::string> value;  // nullopt only for "ARG name" without a default

  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

// HEALTHCHECK as the image config records it (durations in nanoseconds, 0 = default).
struct Healthcheck {
  std::vector<std::string> test;  // {"NONE"}, {"CMD", argv...} or {"CMD-SHELL", command}
  long long interval = 0;
  long long timeout = 0;
  long long start_period = 0;
  long long start_interval = 0;
  int retries = 0;
};

struct Instruction {
  std::string keyword;             // upper case: "RUN"
  std::vector<std::string> flags;  // as written on the line: "--from=build", "--link"
  std::vector<std::string> args;   // see the table above
  bool json = false;               // args came from a JSON array
  std::vector<Heredoc> heredocs;   // in the order their delimiters appear
  int start_line = 0;              // 1-based
  int end_line = 0;                // last line used, heredoc bodies included
  std::string original;            // the logical line: continuations joined, escapes kept

  // Filled in by validation.
  std::vector<std::pair<std::string, std::string>> flag_values;  // ("from", "build"), ("link", "true")
  std::vector<KeyValue> pairs;                                    // ENV, LABEL, ARG
  std::optional<Healthcheck> healthcheck;                         // HEALTHCHECK
  std::string trigger;  // ONBUILD: the trigger as stored in the image's OnBuild list

  // The value a flag was given ("build" for --from=build, "true" for a bare
  // boolean flag); nullopt when absent. For repeatable flags, the last one.
  std::optional<std::string> flag(std::string_view name) const;
  // Every value of a repeatable flag (--mount, --exclude), in order.
  std::vector<std::string> flag_all(std::string_view name) const;
};

struct Stage {
  size_t index = 0;
  std::string name;      // the AS name, lower-cased; "" when none
  std::string base;      // the image as written, unexpanded: "${BASE}:${TAG}", "scratch", "build"
  std::string platform;  // --platform as written, unexpanded; "" when none
  Instruction from;
  std::vector<Instruction> instructions;  // after FROM, up to the next FROM
};

struct Dockerfile {
  std::string name;                     // for messages: "Dockerfile"
  char escape = '\\';                   // from "# escape=": pass to ShellLex
  std::string syntax;                   // "# syntax=" value; "" when none
  std::vector<Instruction> global_args; // ARGs before the first FROM
  std::vector<Stage> stages;
  std::vector<std::string> warnings;    // "Empty continuation line found in: ..."

  // The stage called `name` (AS names are compared lower-cased), else nullptr.
  const Stage* find_stage(std::string_view name) const;
};

Dockerfile parse_dockerfile(std::string_view text, std::string_view name = "Dockerfile");

// The validated instructions of a text, without the stage rules: for the
// ONBUILD triggers of a base image, which a child build parses one by one.
std::vector<Instruction> parse_instructions(std::string_view text, std::string_view name = "Dockerfile");

// "<<EOF", "<<-'EOF'", "3<<EOF" as a heredoc (content empty); nullopt for
// other words. Throws for a delimiter that does not lex ("<<'EOF").
std::optional<Heredoc> parse_heredoc(std::string_view word);

// COPY/ADD sources split into context paths and heredoc bodies.
struct InlineFile {
  std::string name;  // the heredoc's name, used as the file name
  std::string data;  // its text()
  bool expand = true;

  friend bool operator==(const InlineFile&, const InlineFile&) = default;
};
struct CopySources {
  std::vector<std::string> paths;  // unexpanded
  std::vector<InlineFile> files;
  std::string dest;                // unexpanded
};
CopySources copy_sources(const Instruction& copy_or_add);

// EXPOSE after expansion: docker's port specs ("80", "80/udp", "8000-8002",
// "8080:80") to the image config's keys ("80/tcp", ...), with the messages
// of docker's nat.ParsePortSpec ("invalid containerPort: x", "invalid proto: y").
std::vector<std::string> exposed_ports(const std::vector<std::string>& specs);

}  // namespace berth::build
