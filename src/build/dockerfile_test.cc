#include "build/dockerfile.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/test_util.h"
#include "build/shell_expand.h"

namespace berth::build {
namespace {

using berth::test::error_of;

// "<lines> KEYWORD [flags] args": lines "3" or "3-5", args as a JSON array,
// prefixed "json" when they came from a JSON array.
std::string summary(const Instruction& in) {
  std::string s = in.start_line == in.end_line ? std::to_string(in.start_line)
                                               : fmt::format("{}-{}", in.start_line, in.end_line);
  s += " " + in.keyword;
  for (const std::string& f : in.flags) s += " " + f;
  return s + " " + (in.json ? "json" : "") + nlohmann::json(in.args).dump();
}

std::vector<std::string> summaries(const Dockerfile& df) {
  std::vector<std::string> out;
  for (const Instruction& in : df.global_args) out.push_back(summary(in));
  for (const Stage& st : df.stages) {
    out.push_back(summary(st.from));
    for (const Instruction& in : st.instructions) out.push_back(summary(in));
  }
  return out;
}

struct ParseCase {
  const char* name;
  const char* text;
  std::vector<std::string> want;
};

const ParseCase kParseCases[] = {
    {"basic",
     "FROM alpine:3.19\nRUN echo hi\nCMD [\"sh\", \"-c\", \"echo\"]\n",
     {R"(1 FROM ["alpine:3.19"])", R"(2 RUN ["echo hi"])", R"(3 CMD json["sh","-c","echo"])"}},
    {"keywords are case-insensitive, leading blanks ignored, inner blanks kept",
     "  from alpine\n\trun   echo   hi  \n",
     {R"(1 FROM ["alpine"])", R"(2 RUN ["echo   hi"])"}},
    {"comments and blank lines are skipped",
     "# comment\n\nFROM a\n   # indented comment\n\nRUN x # not a comment\n",
     {R"(3 FROM ["a"])", R"(6 RUN ["x # not a comment"])"}},
    {"continuation with comment and empty lines inside",
     "FROM busybox\nRUN echo a \\\n# a comment inside\n    && echo b \\\n\n    && echo c\nRUN done\n",
     {R"(1 FROM ["busybox"])", R"(2-6 RUN ["echo a     && echo b     && echo c"])", R"(7 RUN ["done"])"}},
    {"blanks after the continuation escape",
     "FROM a\nRUN one \\  \t\n two\n",
     {R"(1 FROM ["a"])", R"(2-3 RUN ["one  two"])"}},
    {"an escaped escape does not continue",
     "FROM a\nRUN echo \\\\\nRUN next\n",
     {R"(1 FROM ["a"])", R"(2 RUN ["echo \\\\"])", R"(3 RUN ["next"])"}},
    {"a lone escape line",
     "FROM a\nRUN a \\\n\\\n b\n",
     {R"(1 FROM ["a"])", R"(2-4 RUN ["a  b"])"}},
    {"continuation at the end of the file",
     "FROM a\nRUN tail \\\n",
     {R"(1 FROM ["a"])", R"(2 RUN ["tail"])"}},
    {"escape directive with Windows paths",
     "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\\n"
     "WORKDIR c:\\app\nRUN echo a `\n    b\n",
     {R"(2 FROM ["mcr.microsoft.com/windows/servercore"])", R"(3 COPY ["testfile.txt","c:\\"])",
      R"(4 RUN ["dir c:\\"])", R"(5 WORKDIR ["c:\\app"])", R"(6-7 RUN ["echo a     b"])"}},
    {"the same Windows paths with the default escape run together",
     "FROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\\nWORKDIR c:\\app\n",
     {R"(1 FROM ["mcr.microsoft.com/windows/servercore"])",
      R"(2-4 COPY ["testfile.txt","c:RUN","dir","c:WORKDIR","c:\\app"])"}},
    {"JSON and shell forms",
     "FROM a\nCMD [\"echo\", \"hi\"]\nCMD [echo, hi]\nENTRYPOINT [\"a\", \"b\"] ignored\nRUN []\n"
     "RUN [ \"spaced\" ]\nSHELL [\"/bin/bash\", \"-c\"]\nCOPY [\"a b\", \"/c d/\"]\nCOPY a b /c/\n"
     "COPY [a, b] /c\nVOLUME /data /logs\nVOLUME [\"/v\"]\nADD [\"src\", \"/dst\"]\n",
     {R"(1 FROM ["a"])", R"(2 CMD json["echo","hi"])", R"(3 CMD ["[echo, hi]"])", R"(4 ENTRYPOINT json["a","b"])",
      R"(5 RUN json[])", R"(6 RUN json["spaced"])", R"(7 SHELL json["/bin/bash","-c"])",
      R"(8 COPY json["a b","/c d/"])", R"(9 COPY ["a","b","/c/"])", R"(10 COPY ["[a,","b]","/c"])",
      R"(11 VOLUME ["/data","/logs"])", R"(12 VOLUME json["/v"])", R"(13 ADD json["src","/dst"])"}},
    {"flags are split off, quotes and escapes removed",
     "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
     "RUN --mount=type=cache,target=/root/.cache --network=none go build\n"
     "COPY --from=build --chown=\"app:app\" --chmod=755 --link /out /app\n"
     "COPY -- --weird /x\n",
     {R"(1 FROM --platform=$BUILDPLATFORM ["golang:1.22","AS","build"])",
      R"(2 RUN --mount=type=cache,target=/root/.cache --network=none ["go build"])",
      R"(3 COPY --from=build --chown=app:app --chmod=755 --link ["/out","/app"])", R"(4 COPY ["--weird","/x"])"}},
    {"ENV and LABEL, new and legacy forms",
     "FROM a\nENV A=1 B=\"two words\" C=three\\ words\nENV LEGACY some value here\nENV D=\n"
     "LABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0\n",
     {R"(1 FROM ["a"])", R"(2 ENV ["A","1","B","\"two words\"","C","three\\ words"])",
      R"(3 ENV ["LEGACY","some value here"])", R"(4 ENV ["D",""])",
      R"(5 LABEL ["\"com.example.vendor\"","\"ACME Inc\"","version","1.0"])"}},
    {"one-argument instructions keep the rest of the line",
     "FROM a\nUSER app:app\nWORKDIR /srv/my app\nSTOPSIGNAL SIGTERM\nMAINTAINER Jane Doe <jane@example.com>\n",
     {R"(1 FROM ["a"])", R"(2 USER ["app:app"])", R"(3 WORKDIR ["/srv/my app"])", R"(4 STOPSIGNAL ["SIGTERM"])",
      R"(5 MAINTAINER ["Jane Doe <jane@example.com>"])"}},
    {"ARG and EXPOSE words",
     "ARG A B=2 C=\"x y\"\nFROM a\nEXPOSE 80 443/tcp   53/udp\n",
     {R"(1 ARG ["A","B=2","C=\"x y\""])", R"(2 FROM ["a"])", R"(3 EXPOSE ["80","443/tcp","53/udp"])"}},
    {"ONBUILD and HEALTHCHECK",
     "FROM a\nONBUILD RUN echo hi\nonbuild copy --from=x a b\nHEALTHCHECK NONE\n"
     "HEALTHCHECK --interval=5s CMD curl -f http://x/ || exit 1\nHEALTHCHECK CMD [\"/check\", \"-v\"]\n",
     {R"(1 FROM ["a"])", R"(2 ONBUILD ["RUN","echo hi"])", R"(3 ONBUILD ["copy","a","b"])",
      R"(4 HEALTHCHECK ["NONE"])", R"(5 HEALTHCHECK --interval=5s ["CMD","curl -f http://x/ || exit 1"])",
      R"(6 HEALTHCHECK json["CMD","/check","-v"])"}},
    {"a directive after an instruction is a comment",
     "FROM a\n# escape=`\nRUN one \\\n two\n",
     {R"(1 FROM ["a"])", R"(3-4 RUN ["one  two"])"}},
    {"BOM and CRLF line endings",
     "\xEF\xBB\xBF" "FROM a\r\nRUN echo \\\r\n b\r\n",
     {R"(1 FROM ["a"])", R"(2-3 RUN ["echo  b"])"}},
    {"heredoc bodies count towards the lines",
     "FROM a\nRUN <<EOF\necho hi\nEOF\nRUN after\n",
     {R"(1 FROM ["a"])", R"(2-4 RUN ["<<EOF"])", R"(5 RUN ["after"])"}},
};

TEST(Dockerfile, ParseTable) {
  for (const ParseCase& c : kParseCases) {
    SCOPED_TRACE(c.name);
    try {
      EXPECT_EQ(summaries(parse_dockerfile(c.text)), c.want);
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

struct ErrorCase {
  const char* text;
  const char* want;
};

const ErrorCase kErrorCases[] = {
    {"", "file with no instructions"},
    {"# only a comment\n\n   \n", "file with no instructions"},
    {"ARG A=1\n", "dockerfile contains no stages to build"},
    {"RUN echo\nFROM a\n", "Dockerfile:1: no build stage in current context"},
    {"FROM a\nRUNN echo\n", "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)"},
    {"FROM a\nrunn echo\n", "Dockerfile:2: unknown instruction: runn (did you mean run?)"},
    {"FROM a\nCpoy a b\n", "Dockerfile:2: unknown instruction: Cpoy (did you mean copy?)"},
    {"FROM a\nFOOBAR x\n", "Dockerfile:2: unknown instruction: FOOBAR"},
    {"FROM a\n\n\n\n\n\nRUNN x\n", "Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)"},
    // pass one (line shapes) runs over the whole file before pass two
    {"FROM a\nRUNN x\nENV A\n", "Dockerfile:3: ENV must have two arguments"},
    {"FROM a\nCOPY \\\n  onlyone\n",
     "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be "
     "determined"},
    {"FROM a\nADD x\n",
     "Dockerfile:2: ADD requires at least two arguments, but only one was provided. Destination could not be "
     "determined"},
    {"FROM a\nCOPY src <<EOF\nx\nEOF\n", "Dockerfile:2: COPY cannot accept a heredoc as a destination"},
    {"FROM a\nRUN <<EOF\necho\n", "Dockerfile:2: unterminated heredoc"},
    {"FROM\n", "Dockerfile:1: FROM requires either one or three arguments"},
    {"FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"},
    {"FROM a AS\n", "Dockerfile:1: FROM requires either one or three arguments"},
    {"FROM a to b\n", "Dockerfile:1: FROM requires either one or three arguments"},
    {"FROM a AS b c\n", "Dockerfile:1: FROM requires either one or three arguments"},
    {"FROM --platform linux/amd64 a\n", "Dockerfile:1: FROM requires either one or three arguments"},
    {"FROM a AS 1st\n",
     R"(Dockerfile:1: invalid name for build stage: "1st", name can't start with a number or contain symbols)"},
    {"FROM a AS my$stage\n",
     R"(Dockerfile:1: invalid name for build stage: "my$stage", name can't start with a number or contain symbols)"},
    {"FROM --platfrom=linux/amd64 a\n", "Dockerfile:1: unknown flag: --platfrom (did you mean platform?)"},
    {"FROM a\nCOPY --form=b x y\n", "Dockerfile:2: unknown flag: --form (did you mean from?)"},
    {"FROM a\nCOPY --link=maybe a b\n", "Dockerfile:2: expecting boolean value for flag --link, not: maybe"},
    {"FROM a\nCOPY --link= a b\n", "Dockerfile:2: missing a value on flag: --link"},
    {"FROM a\nCOPY --from a b\n", "Dockerfile:2: missing a value on flag: --from"},
    {"FROM a\nCOPY --from=x --from=y a b\n", "Dockerfile:2: duplicate flag specified: --from"},
    {"FROM a\nADD --from=x a b\n", "Dockerfile:2: unknown flag: --from"},
    {"FROM a\nENV --foo=x A=1\n", "Dockerfile:2: unknown flag: --foo"},
    {"FROM a\nENV\n", "Dockerfile:2: ENV requires at least one argument"},
    {"FROM a\nENV KEYONLY\n", "Dockerfile:2: ENV must have two arguments"},
    {"FROM a\nLABEL KEYONLY\n", "Dockerfile:2: LABEL must have two arguments"},
    {"FROM a\nENV A=1 B\n", R"(Dockerfile:2: Syntax error - can't find = in "B". Must be of the form: name=value)"},
    {"FROM a\nENV =x\n", "Dockerfile:2: ENV names can not be blank"},
    {"FROM a\nLABEL\n", "Dockerfile:2: LABEL requires at least one argument"},
    {"FROM a\nARG\n", "Dockerfile:2: ARG requires at least one argument"},
    {"ARG =x\nFROM a\n", "Dockerfile:1: ARG names can not be blank"},
    {"FROM a\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument"},
    {"FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument"},
    {"FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument"},
    {"FROM a\nMAINTAINER\n", "Dockerfile:2: MAINTAINER requires exactly one argument"},
    {"FROM a\nSTOPSIGNAL\n", "Dockerfile:2: STOPSIGNAL requires exactly one argument"},
    {"FROM a\nVOLUME\n", "Dockerfile:2: VOLUME requires at least one argument"},
    {"FROM a\nVOLUME [\"/ok\", \" \"]\n", "Dockerfile:2: VOLUME specified can not be an empty string"},
    {"FROM a\nSHELL /bin/sh -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form"},
    {"FROM a\nSHELL [\"c:\\windows\\cmd.exe\", \"/S\"]\n",
     "Dockerfile:2: SHELL requires the arguments to be in JSON form. It looks like '[\"c:\\windows\\cmd.exe\", "
     "\"/s\"]' includes a file path without an escaped back-slash. JSON requires back-slashes to be escaped such as "
     "[\"c:\\\\path\\\\to\\\\file.exe\", \"/parameter\"]"},
    {"FROM a\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument"},
    {"FROM a\nCMD [\"ok\", 2]\n", "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"},
    {"FROM a\nONBUILD\n", "Dockerfile:2: ONBUILD requires at least one argument"},
    {"FROM a\nONBUILD ONBUILD RUN x\n", "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
    {"FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"},
    {"FROM a\nonbuild maintainer me\n", "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"},
    {"FROM a\nONBUILD ENV A\n", "Dockerfile:2: ENV must have two arguments"},
    {"FROM a\nHEALTHCHECK\n", "Dockerfile:2: HEALTHCHECK requires at least one argument"},
    {"FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"},
    {"FROM a\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD"},
    {"FROM a\nHEALTHCHECK CMD []\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD"},
    {"FROM a\nHEALTHCHECK TEST x\n", R"(Dockerfile:2: Unknown type "TEST" in HEALTHCHECK (try CMD))"},
    {"FROM a\nHEALTHCHECK --interval=10 CMD x\n", R"(Dockerfile:2: time: missing unit in duration "10")"},
    {"FROM a\nHEALTHCHECK --interval=abc CMD x\n", R"(Dockerfile:2: time: invalid duration "abc")"},
    {"FROM a\nHEALTHCHECK --timeout=5x CMD x\n", R"(Dockerfile:2: time: unknown unit "x" in duration "5x")"},
    {"FROM a\nHEALTHCHECK --start-period=10us CMD x\n",
     R"(Dockerfile:2: Interval "start-period" cannot be less than 1ms)"},
    {"FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "Dockerfile:2: --retries cannot be negative (-1)"},
    {"FROM a\nHEALTHCHECK --retries=x CMD x\n", R"(Dockerfile:2: strconv.ParseInt: parsing "x": invalid syntax)"},
    {"FROM a\nHEALTHCHECK --retries=9999999999 CMD x\n",
     R"(Dockerfile:2: strconv.ParseInt: parsing "9999999999": value out of range)"},
    {"FROM a\nHEALTHCHECK --foo=1 CMD x\n", "Dockerfile:2: unknown flag: --foo"},
    {"FROM a\nRUN --network=bridge x\n", R"(Dockerfile:2: invalid network mode "bridge")"},
    {"FROM a\nRUN --security=open x\n", R"(Dockerfile:2: security "open" is not valid)"},
    {"FROM a\nRUN --mount x\n", "Dockerfile:2: missing a value on flag: --mount"},
    {"# escape=`\n# escape=\\\nFROM a\n", "Dockerfile:2: only one escape parser directive can be used"},
    {"# syntax=a\n#SYNTAX = b\nFROM a\n", "Dockerfile:2: only one syntax parser directive can be used"},
    {"# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"},
};

TEST(Dockerfile, ErrorTable) {
  for (const ErrorCase& c : kErrorCases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(error_of([&] { parse_dockerfile(c.text); }), c.want);
  }
}

TEST(Dockerfile, ErrorsNameTheDockerfile) {
  EXPECT_EQ(error_of([] { parse_dockerfile("FROM a\nRUNN x\n", "app.Dockerfile"); }),
            "app.Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)");
}

TEST(Dockerfile, ParserDirectives) {
  Dockerfile df = parse_dockerfile("# syntax=docker/dockerfile:1\n#ESCAPE = `  \n# check=skip=all\nFROM a\n");
  EXPECT_EQ(df.syntax, "docker/dockerfile:1");
  EXPECT_EQ(df.escape, '`');
  EXPECT_EQ(df.stages.at(0).from.start_line, 4);

  // Only lines before anything else count: not after a comment, a blank
  // line, an unknown directive or an instruction.
  for (const char* text : {"# hello\n# escape=`\nFROM a\n", "\n# escape=`\nFROM a\n", "# foo=bar\n# escape=`\nFROM a\n",
                           "FROM a\n# escape=`\n"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_dockerfile(text).escape, '\\');
  }
  EXPECT_EQ(parse_dockerfile("   # escape=`\nFROM a\n").escape, '`');
  EXPECT_EQ(parse_dockerfile("FROM a\n").syntax, "");
}

TEST(Dockerfile, StagesSplitAtFrom) {
  Dockerfile df = parse_dockerfile(
      "ARG BASE=alpine\n"
      "ARG TAG\n"
      "FROM ${BASE}:${TAG} AS Build\n"
      "RUN make\n"
      "FROM scratch\n"
      "COPY --from=build /out /out\n"
      "FROM --platform=linux/arm64 build AS final\n"
      "ARG TAG\n");
  ASSERT_EQ(df.global_args.size(), 2u);
  EXPECT_EQ(df.global_args[0].pairs, (std::vector<KeyValue>{{"BASE", "alpine"}}));
  EXPECT_EQ(df.global_args[1].pairs, (std::vector<KeyValue>{{"TAG", std::nullopt}}));
  ASSERT_EQ(df.stages.size(), 3u);

  EXPECT_EQ(df.stages[0].index, 0u);
  EXPECT_EQ(df.stages[0].name, "build");
  EXPECT_EQ(df.stages[0].base, "${BASE}:${TAG}");
  EXPECT_EQ(df.stages[0].platform, "");
  EXPECT_EQ(df.stages[0].from.start_line, 3);
  ASSERT_EQ(df.stages[0].instructions.size(), 1u);
  EXPECT_EQ(df.stages[0].instructions[0].keyword, "RUN");

  EXPECT_EQ(df.stages[1].name, "");
  EXPECT_EQ(df.stages[1].base, "scratch");
  ASSERT_EQ(df.stages[1].instructions.size(), 1u);
  EXPECT_EQ(df.stages[1].instructions[0].flag("from"), "build");

  EXPECT_EQ(df.stages[2].index, 2u);
  EXPECT_EQ(df.stages[2].name, "final");
  EXPECT_EQ(df.stages[2].base, "build");
  EXPECT_EQ(df.stages[2].platform, "linux/arm64");
  ASSERT_EQ(df.stages[2].instructions.size(), 1u);  // an ARG inside a stage belongs to it
  EXPECT_EQ(df.stages[2].instructions[0].keyword, "ARG");

  EXPECT_EQ(df.find_stage("BUILD"), &df.stages[0]);
  EXPECT_EQ(df.find_stage("final"), &df.stages[2]);
  EXPECT_EQ(df.find_stage("scratch"), nullptr);
}

TEST(Dockerfile, FromImageWithBuildArgsExpandsWithShellLex) {
  Dockerfile df = parse_dockerfile("ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:${TAG} AS build\n");
  std::map<std::string, std::string, std::less<>> args;
  for (const Instruction& in : df.global_args)
    for (const KeyValue& kv : in.pairs) args[kv.key] = kv.value.value_or("");
  Expansion e = ShellLex(df.escape).expand(df.stages[0].base, lookup_in(args));
  EXPECT_EQ(e.word, "alpine:3.19");
  EXPECT_EQ(e.matched, (std::set<std::string>{"BASE", "TAG"}));
}

TEST(Dockerfile, EnvPairsAndTheirExpansion) {
  Dockerfile df = parse_dockerfile(
      "FROM a\nENV A=1 B=\"two words\" C=three\\ words\nENV LEGACY some \"quoted\" value\n"
      "LABEL \"com.example.vendor\"=\"ACME Inc\" version=$V\n");
  const auto& ins = df.stages[0].instructions;
  ASSERT_EQ(ins.size(), 3u);
  EXPECT_EQ(ins[0].pairs, (std::vector<KeyValue>{{"A", "1"}, {"B", "\"two words\""}, {"C", "three\\ words"}}));
  EXPECT_EQ(ins[1].pairs, (std::vector<KeyValue>{{"LEGACY", "some \"quoted\" value"}}));
  EXPECT_EQ(ins[2].pairs, (std::vector<KeyValue>{{"\"com.example.vendor\"", "\"ACME Inc\""}, {"version", "$V"}}));

  // The builder expands keys and values word by word.
  std::map<std::string, std::string, std::less<>> vars = {{"V", "1.0"}};
  ShellLex lex(df.escape);
  EXPECT_EQ(lex.process_word(*ins[0].pairs[1].value, lookup_in(vars)), "two words");
  EXPECT_EQ(lex.process_word(*ins[0].pairs[2].value, lookup_in(vars)), "three words");
  EXPECT_EQ(lex.process_word(*ins[1].pairs[0].value, lookup_in(vars)), "some quoted value");
  EXPECT_EQ(lex.process_word(ins[2].pairs[0].key, lookup_in(vars)), "com.example.vendor");
  EXPECT_EQ(lex.process_word(*ins[2].pairs[1].value, lookup_in(vars)), "1.0");
}

TEST(Dockerfile, ArgPairs) {
  Dockerfile df = parse_dockerfile("FROM a\nARG A B=2 C=\"x y\" D=\n");
  EXPECT_EQ(df.stages[0].instructions.at(0).pairs,
            (std::vector<KeyValue>{{"A", std::nullopt}, {"B", "2"}, {"C", "\"x y\""}, {"D", ""}}));
}

TEST(Dockerfile, Heredocs) {
  Dockerfile df = parse_dockerfile(
      "FROM alpine\n"                        // 1
      "RUN <<EOF\n"                          // 2
      "echo hello\n"                         //
      "# kept, not a comment \\\n"           //
      "echo $HOME\n"                         //
      "EOF\n"                                // 6
      "RUN <<-\"INDENTED\" bash\n"           // 7
      "\techo one\n"                         //
      "\t\techo two\n"                       //
      "\tINDENTED\n"                         // 10
      "COPY <<FILE1 <<'FILE2' /dest/\n"      // 11
      "content 1 $X\n"                       //
      "FILE1\n"                              //
      "content 2 $X\n"                       //
      "FILE2\n"                              // 15
      "RUN python3 <<PY > out.txt && sh <<SH\n"  // 16
      "print('hi')\n"                        //
      "PY\n"                                 //
      "echo sh\n"                            //
      "SH\n"                                 // 20
      "RUN [\"<<NOT\"]\n"                    // 21
      "RUN echo '<<NOT' \"<<NOT2\"\n"        // 22
      "RUN 3<<EOF cat <&3\n"                 // 23
      "fd three\n"                           //
      "EOF\n"                                // 25
      "RUN E\"O\"F=1 <<E\"O\"F\n"            // 26
      "$partly quoted\n"                     //
      "EOF\n");                              // 28
  const auto& ins = df.stages.at(0).instructions;
  ASSERT_EQ(ins.size(), 8u);

  EXPECT_EQ(summary(ins[0]), R"(2-6 RUN ["<<EOF"])");
  EXPECT_EQ(ins[0].heredocs,
            (std::vector<Heredoc>{{"EOF", "echo hello\n# kept, not a comment \\\necho $HOME\n", true, false, 0}}));

  EXPECT_EQ(summary(ins[1]), R"(7-10 RUN ["<<-\"INDENTED\" bash"])");
  ASSERT_EQ(ins[1].heredocs.size(), 1u);
  EXPECT_EQ(ins[1].heredocs[0], (Heredoc{"INDENTED", "\techo one\n\t\techo two\n", false, true, 0}));
  EXPECT_EQ(ins[1].heredocs[0].text(), "echo one\necho two\n");

  EXPECT_EQ(summary(ins[2]), R"(11-15 COPY ["<<FILE1","<<'FILE2'","/dest/"])");
  EXPECT_EQ(ins[2].heredocs, (std::vector<Heredoc>{{"FILE1", "content 1 $X\n", true, false, 0},
                                                   {"FILE2", "content 2 $X\n", false, false, 0}}));
  CopySources sources = copy_sources(ins[2]);
  EXPECT_TRUE(sources.paths.empty());
  EXPECT_EQ(sources.dest, "/dest/");
  EXPECT_EQ(sources.files, (std::vector<InlineFile>{{"FILE1", "content 1 $X\n", true}, {"FILE2", "content 2 $X\n", false}}));

  EXPECT_EQ(summary(ins[3]), R"(16-20 RUN ["python3 <<PY > out.txt && sh <<SH"])");
  EXPECT_EQ(ins[3].heredocs, (std::vector<Heredoc>{{"PY", "print('hi')\n", true, false, 0},
                                                   {"SH", "echo sh\n", true, false, 0}}));

  EXPECT_EQ(summary(ins[4]), R"(21 RUN json["<<NOT"])");
  EXPECT_TRUE(ins[4].heredocs.empty());
  EXPECT_EQ(summary(ins[5]), R"(22 RUN ["echo '<<NOT' \"<<NOT2\""])");
  EXPECT_TRUE(ins[5].heredocs.empty());

  EXPECT_EQ(ins[6].heredocs, (std::vector<Heredoc>{{"EOF", "fd three\n", true, false, 3}}));
  EXPECT_EQ(ins[7].heredocs, (std::vector<Heredoc>{{"EOF", "$partly quoted\n", false, false, 0}}));
}

TEST(Dockerfile, HeredocsOnlyForRunCopyAdd) {
  // USER takes no heredoc, so the would-be body is an instruction of its own.
  EXPECT_EQ(error_of([] { parse_dockerfile("FROM a\nUSER <<INVALID\nINVALID\n"); }),
            "Dockerfile:3: unknown instruction: INVALID");
  Dockerfile df = parse_dockerfile("FROM a\nUSER <<X\n");
  EXPECT_EQ(summary(df.stages[0].instructions.at(0)), R"(2 USER ["<<X"])");
  EXPECT_TRUE(df.stages[0].instructions.at(0).heredocs.empty());
}

TEST(Dockerfile, CopySourcesMixPathsAndHeredocs) {
  Dockerfile df = parse_dockerfile("FROM a\nCOPY a.txt <<-EOF b/ /dst/\n\tinline\n\tEOF\n");
  CopySources s = copy_sources(df.stages[0].instructions.at(0));
  EXPECT_EQ(s.paths, (std::vector<std::string>{"a.txt", "b/"}));
  EXPECT_EQ(s.files, (std::vector<InlineFile>{{"EOF", "inline\n", true}}));
  EXPECT_EQ(s.dest, "/dst/");
}

TEST(Dockerfile, OnbuildTriggers) {
  Dockerfile df = parse_dockerfile(
      "FROM a\n"
      "ONBUILD RUN echo hi\n"
      "  onbuild   COPY --from=x a b\n"
      "ONBUILD RUN <<EOF\n"
      "echo built\n"
      "EOF\n");
  const auto& ins = df.stages[0].instructions;
  ASSERT_EQ(ins.size(), 3u);
  EXPECT_EQ(ins[0].trigger, "RUN echo hi");
  EXPECT_EQ(ins[1].trigger, "COPY --from=x a b");
  EXPECT_TRUE(ins[1].flags.empty());  // the trigger's flags stay in the trigger
  EXPECT_EQ(summary(ins[2]), R"(4-6 ONBUILD ["RUN","<<EOF"])");
  EXPECT_EQ(ins[2].trigger, "RUN <<EOF\necho built\nEOF");

  // A child build parses each trigger on its own.
  std::vector<Instruction> triggered = parse_instructions(ins[2].trigger);
  ASSERT_EQ(triggered.size(), 1u);
  EXPECT_EQ(triggered[0].keyword, "RUN");
  EXPECT_EQ(triggered[0].heredocs, (std::vector<Heredoc>{{"EOF", "echo built\n", true, false, 0}}));
  EXPECT_EQ(error_of([] { parse_instructions("RUNN x", "onbuild"); }),
            "onbuild:1: unknown instruction: RUNN (did you mean RUN?)");
}

TEST(Dockerfile, Healthchecks) {
  Dockerfile df = parse_dockerfile(
      "FROM a\n"
      "HEALTHCHECK NONE\n"
      "HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --start-interval=1.5s --retries=3 \\\n"
      "  CMD curl -f http://localhost/ || exit 1\n"
      "healthcheck cmd [\"/bin/check\", \"-v\"]\n"
      "HEALTHCHECK --interval=0 --retries=0 CMD true\n");
  const auto& ins = df.stages[0].instructions;
  ASSERT_EQ(ins.size(), 4u);
  ASSERT_TRUE(ins[0].healthcheck);
  EXPECT_EQ(ins[0].healthcheck->test, (std::vector<std::string>{"NONE"}));

  const Healthcheck& full = *ins[1].healthcheck;
  EXPECT_EQ(full.test, (std::vector<std::string>{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}));
  EXPECT_EQ(full.interval, 30'000'000'000LL);
  EXPECT_EQ(full.timeout, 5'000'000'000LL);
  EXPECT_EQ(full.start_period, 60'000'000'000LL);
  EXPECT_EQ(full.start_interval, 1'500'000'000LL);
  EXPECT_EQ(full.retries, 3);

  EXPECT_EQ(ins[2].healthcheck->test, (std::vector<std::string>{"CMD", "/bin/check", "-v"}));
  EXPECT_EQ(ins[3].healthcheck->interval, 0);
  EXPECT_EQ(ins[3].healthcheck->retries, 0);
}

TEST(Dockerfile, FlagValues) {
  Dockerfile df = parse_dockerfile(
      "FROM a\n"
      "RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=npm --network=none --security=insecure x\n"
      "COPY --link --chmod=755 a b\n"
      "COPY --link=FALSE --parents --exclude=*.md --exclude=*.txt . /app/\n"
      "ADD --keep-git-dir=true --checksum=sha256:abc --chown=1:2 https://example.com/x /y\n");
  const auto& ins = df.stages[0].instructions;
  EXPECT_EQ(ins[0].flag_all("mount"),
            (std::vector<std::string>{"type=cache,target=/root/.cache", "type=secret,id=npm"}));
  EXPECT_EQ(ins[0].flag("network"), "none");
  EXPECT_EQ(ins[0].flag("security"), "insecure");
  EXPECT_EQ(ins[1].flag("link"), "true");
  EXPECT_EQ(ins[1].flag("chmod"), "755");
  EXPECT_EQ(ins[1].flag("from"), std::nullopt);
  EXPECT_EQ(ins[2].flag("link"), "false");
  EXPECT_EQ(ins[2].flag("parents"), "true");
  EXPECT_EQ(ins[2].flag_all("exclude"), (std::vector<std::string>{"*.md", "*.txt"}));
  EXPECT_EQ(ins[3].flag("keep-git-dir"), "true");
  EXPECT_EQ(ins[3].flag("checksum"), "sha256:abc");
  EXPECT_EQ(ins[3].flag("chown"), "1:2");
}

TEST(Dockerfile, OriginalKeepsTheLogicalLine) {
  Dockerfile df = parse_dockerfile("FROM a\n  RUN apt-get update \\\n   && apt-get install -y x  \n");
  EXPECT_EQ(df.stages[0].instructions.at(0).original, "RUN apt-get update    && apt-get install -y x  ");
}

TEST(Dockerfile, EmptyContinuationLinesWarn) {
  Dockerfile df = parse_dockerfile("FROM a\nRUN a \\\n\n b\n");
  EXPECT_EQ(df.warnings, (std::vector<std::string>{"Empty continuation line found in: RUN a  b"}));
  EXPECT_TRUE(parse_dockerfile("FROM a\nRUN a \\\n b\n").warnings.empty());
}

TEST(Dockerfile, ParseHeredocWords) {
  for (const char* w : {"<<EOF", "<<'EOF'", "<<\"EOF\"", "<<-EOF", "<<-'EOF'", "<<-\"EOF\""}) {
    SCOPED_TRACE(w);
    auto h = parse_heredoc(w);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->name, "EOF");
  }
  for (const char* w : {"", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "a<<EOF", "<<EOF MORE"}) {
    SCOPED_TRACE(w);
    EXPECT_FALSE(parse_heredoc(w));
  }
  for (const char* w : {"<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""}) {
    SCOPED_TRACE(w);
    EXPECT_THROW(parse_heredoc(w), Error);
  }
  EXPECT_EQ(parse_heredoc("12<<-X")->fd, 12u);
  EXPECT_TRUE(parse_heredoc("12<<-X")->chomp);
  EXPECT_FALSE(parse_heredoc("<<'X'")->expand);
  EXPECT_TRUE(parse_heredoc("<<X")->expand);
}

TEST(Dockerfile, ExposedPorts) {
  EXPECT_EQ(exposed_ports({"80", "443/tcp", "53/UDP", "8000-8002", "8080:80", "127.0.0.1:9000:9000/sctp", "[::1]:1:1"}),
            (std::vector<std::string>{"80/tcp", "443/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp",
                                      "9000/sctp", "1/tcp"}));
  EXPECT_EQ(error_of([] { exposed_ports({"abc"}); }), "invalid containerPort: abc");
  EXPECT_EQ(error_of([] { exposed_ports({"80/xyz"}); }), "invalid proto: xyz");
  EXPECT_EQ(error_of([] { exposed_ports({"9-8"}); }), "invalid containerPort: 9-8");
  EXPECT_EQ(error_of([] { exposed_ports({"70000"}); }), "invalid containerPort: 70000");
  EXPECT_EQ(error_of([] { exposed_ports({"/udp"}); }), "no port specified: /udp<empty>");
  EXPECT_EQ(error_of([] { exposed_ports({"x:80"}); }), "invalid hostPort: x");
  EXPECT_EQ(error_of([] { exposed_ports({"nothost:1:80"}); }), "invalid IP address: nothost");
}

TEST(Dockerfile, ExposeAfterExpansion) {
  Dockerfile df = parse_dockerfile("FROM a\nEXPOSE $PORTS 9090/udp\n");
  std::map<std::string, std::string, std::less<>> vars = {{"PORTS", "80 443"}};
  std::vector<std::string> specs;
  for (const std::string& arg : df.stages[0].instructions.at(0).args)
    for (std::string& w : ShellLex(df.escape).process_words(arg, lookup_in(vars))) specs.push_back(w);
  EXPECT_EQ(exposed_ports(specs), (std::vector<std::string>{"80/tcp", "443/tcp", "9090/udp"}));
}

}  // namespace
}  // namespace berth::build
