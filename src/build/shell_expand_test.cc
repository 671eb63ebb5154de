#include "build/shell_expand.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/test_util.h"

namespace berth::build {
namespace {

using berth::test::error_of;

const std::map<std::string, std::string, std::less<>> kVars = {
    {"PWD", "/home"}, {"SHELL", "bash"}, {"KOREAN", "한국어"}, {"NULL", ""}};

struct WordCase {
  const char* in;
  const char* out;  // nullptr: an error
};

// Cases in the spirit of BuildKit's envVarTest, expectations worked out from
// the lexer's rules (see shell_expand.h).
const WordCase kWordCases[] = {
    {"hello", "hello"},
    {"he'll'o", "hello"},
    {"he'llo", nullptr},
    {R"(he\'llo)", "he'llo"},
    {R"(he\\'llo)", nullptr},
    {R"(abc\tdef)", "abctdef"},
    {R"("abc\tdef")", R"(abc\tdef)"},
    {R"("abc\\tdef")", R"(abc\tdef)"},
    {R"('abc\tdef')", R"(abc\tdef)"},
    {R"(hello\)", "hello"},
    {R"(hello\\)", R"(hello\)"},
    {R"("hello)", nullptr},
    {R"("hello\")", nullptr},
    {R"("hel'lo")", "hel'lo"},
    {R"('hello\')", R"(hello\)"},
    {R"("''")", "''"},
    {"$.", "$."},
    {"$", "$"},
    {"a $ b", "a $ b"},
    {"$1", ""},
    {"he$1x", "hex"},
    {"he$.x", "he$.x"},
    {"he$pwd.", "he."},  // names are case-sensitive
    {"he$PWD", "he/home"},
    {R"(he\$PWD)", "he$PWD"},
    {R"(he\\$PWD)", R"(he\/home)"},
    {R"("he\$PWD")", "he$PWD"},
    {R"("he\\$PWD")", R"(he\/home)"},
    {R"(\${})", "${}"},
    {R"(he\${}xx)", "he${}xx"},
    {"${}", nullptr},
    {"he${}xx", nullptr},
    {"he${hi}xx", "hexx"},
    {"he${PWD}", "he/home"},
    {"he${.}", nullptr},
    {"he${XXX:-000}xx", "he000xx"},
    {"he${PWD:-000}xx", "he/homexx"},
    {"he${XXX:-$PWD}xx", "he/homexx"},
    {"he${XXX:-${PWD:-yyy}}xx", "he/homexx"},
    {"he${XXX:-${YYY:-yyy}}xx", "heyyyxx"},
    {"he${XXX:YYY}", nullptr},
    {"he${XXX:+${PWD}}xx", "hexx"},
    {"he${PWD:+${XXX}}xx", "hexx"},
    {"he${PWD:+${SHELL}}xx", "hebashxx"},
    {"he${PWD:+000}xx", "he000xx"},
    {"'he${XX}'", "he${XX}"},
    {R"("he${PWD}")", "he/home"},
    {R"("he'$PWD'")", "he'/home'"},
    {"'$PWD'", "$PWD"},
    {R"('\$PWD')", R"(\$PWD)"},
    {R"('"hello"')", R"("hello")"},
    {"he${PWD", nullptr},
    {"he${PWD:=000}xx", nullptr},
    {"he${PWD:+${PWD}:}xx", "he/home:xx"},
    {R"(he${XXX:-\$PWD:}xx)", "he$PWD:xx"},
    {R"(he${XXX:-\${PWD}z}xx)", "he${PWDz}xx"},
    {"안'녕'하세요", "안녕하세요"},
    {R"(안녕\'하세요)", "안녕'하세요"},
    {"안녕$KOREAN", "안녕한국어"},
    {"${{aaa}", nullptr},
    {"${aaa}}", "}"},
    {"${aaa", nullptr},
    {"${aaa:-bbb}}", "bbb}"},
    {"${aaa:-bbb", nullptr},
    {"${aaa:-bbb ${foo}", nullptr},
    {"${aaa:-bbb {foo}", "bbb {foo"},
    {"${:}", nullptr},
    {"${:-bbb}", nullptr},
    // set-but-empty versus unset, with and without ":"
    {"${NULL-x}", ""},
    {"${NULL:-x}", "x"},
    {"${NULL+x}", "x"},
    {"${NULL:+x}", ""},
    {"${NULL?}", ""},
    {"${XXX+x}", ""},
    {"${FOO=aaa}", nullptr},
};

TEST(ShellExpand, ProcessWordTable) {
  ShellLex lex;
  for (const WordCase& c : kWordCases) {
    SCOPED_TRACE(c.in);
    if (c.out) {
      EXPECT_EQ(lex.process_word(c.in, lookup_in(kVars)), c.out);
    } else {
      EXPECT_THROW(lex.process_word(c.in, lookup_in(kVars)), Error);
    }
  }
}

TEST(ShellExpand, ErrorsCarryBuildKitsReasons) {
  ShellLex lex;
  auto err = [&](const char* in) { return error_of([&] { lex.process_word(in, lookup_in(kVars)); }); };
  EXPECT_EQ(err("${}"), R"(failed to process "${}": syntax error: bad substitution)");
  EXPECT_EQ(err("x${PWD"), R"(failed to process "x${PWD": syntax error: missing '}')");
  EXPECT_EQ(err("${PWD:=x}"), R"(failed to process "${PWD:=x}": unsupported modifier (:=) in substitution)");
  EXPECT_EQ(err("${PWD=x}"), R"(failed to process "${PWD=x}": unsupported modifier (=) in substitution)");
  EXPECT_EQ(err("'open"),
            R"(failed to process "'open": unexpected end of statement while looking for matching single-quote)");
  EXPECT_EQ(err("\"open"),
            R"(failed to process "\"open": unexpected end of statement while looking for matching double-quote)");
  EXPECT_EQ(err("${X:?must be set}"), R"(failed to process "${X:?must be set}": X: must be set)");
  EXPECT_EQ(err("${X?}"), R"(failed to process "${X?}": X: is not allowed to be unset)");
  EXPECT_EQ(err("${NULL:?}"), R"(failed to process "${NULL:?}": NULL: is not allowed to be empty)");
  EXPECT_EQ(err("${PWD/x}"), R"(failed to process "${PWD/x}": syntax error: missing '/' in ${})");
}

TEST(ShellExpand, MandatoryVariablesExpandTheirMessage) {
  ShellLex lex;
  const std::map<std::string, std::string, std::less<>> set = {{"VAR", "plain"}, {"ARG", "x"}};
  const std::map<std::string, std::string, std::less<>> empty = {{"VAR", ""}, {"ARG", "x"}};
  const std::map<std::string, std::string, std::less<>> unset = {{"ARG", "x"}};
  EXPECT_EQ(lex.process_word("${VAR:?message here$ARG}", lookup_in(set)), "plain");
  EXPECT_NE(error_of([&] { lex.process_word("${VAR:?message here$ARG}", lookup_in(empty)); }).find("VAR: message herex"),
            std::string::npos);
  EXPECT_NE(error_of([&] { lex.process_word("${VAR:?message here$ARG}", lookup_in(unset)); }).find("message herex"),
            std::string::npos);
  EXPECT_EQ(lex.process_word("${VAR?message here$ARG}", lookup_in(empty)), "");
  EXPECT_NE(error_of([&] { lex.process_word("${VAR?message here$ARG}", lookup_in(unset)); }).find("message herex"),
            std::string::npos);
}

struct MatchCase {
  const char* in;
  std::map<std::string, std::string, std::less<>> vars;
  const char* out;  // nullptr: an error
  std::set<std::string> matched;
  std::set<std::string> unmatched;
};

// Pattern operators and the matched/unmatched report, after BuildKit's
// TestProcessWithMatches.
const MatchCase kMatchCases[] = {
    {"x", {{"DUMMY", "dummy"}}, "x", {}, {}},
    {"x ${UNUSED}", {{"DUMMY", "dummy"}}, "x ", {}, {"UNUSED"}},
    {"x ${FOO}", {{"FOO", "y"}}, "x y", {"FOO"}, {}},
    {"${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {{"FOO", "xxx"}, {"BAR", ""}}, "xxx  ccc", {"FOO", "BAR"}, {"BAZ"}},
    {"${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {{"FOO", "xxx"}, {"BAR", ""}}, "xxx bbb ccc", {"FOO", "BAR"}, {"BAZ"}},
    {"${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {{"FOO", "xxx"}, {"BAR", ""}}, "aaa bbb ", {"FOO", "BAR"}, {"BAZ"}},
    {"${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {{"FOO", "xxx"}, {"BAR", ""}}, "aaa  ", {"FOO", "BAR"}, {"BAZ"}},
    {"${FOO?aaa}", {{"FOO", "xxx"}}, "xxx", {"FOO"}, {}},
    {"${BAZ?ccc}", {}, nullptr, {}, {}},
    {"${BAR:?bbb}", {{"BAR", ""}}, nullptr, {}, {}},
    {R"(${FOO#()[]{\}^$.\*\?|\\})", {{"FOO", R"(()[]{}^$.*?|\x)"}}, "x", {"FOO"}, {}},
    {R"(${FOO%%\**})", {{"FOO", "xx**"}}, "xx", {"FOO"}, {}},
    {"${FOO#*x*y}", {{"FOO", "xxyy"}}, "y", {"FOO"}, {}},
    {"${FOO#*}", {{"FOO", "xxyy"}}, "xxyy", {"FOO"}, {}},
    {"${FOO#$BAR}", {{"FOO", "xxyy"}, {"BAR", "x"}}, "xyy", {"FOO", "BAR"}, {}},
    {"${FOO#}", {{"FOO", "xxyy"}}, "xxyy", {"FOO"}, {}},
    {"${FOO##*x}", {{"FOO", "xxyy"}}, "yy", {"FOO"}, {}},
    {R"(${FOO#?\?})", {{"FOO", "???y"}}, "?y", {"FOO"}, {}},
    {"${ABC:-.}${FOO%x}${ABC:-.}", {{"FOO", "xxyy"}}, ".xxyy.", {"FOO"}, {"ABC"}},
    {"${FOO%y}", {{"FOO", "xxyy"}}, "xxy", {"FOO"}, {}},
    {"${FOO%y*}", {{"FOO", "xxyy"}}, "xxy", {"FOO"}, {}},
    {"${FOO%%y*}", {{"FOO", "xxyy"}}, "xx", {"FOO"}, {}},
    {R"(${FOO%%\**\*})", {{"FOO", "a***yy*"}}, "a", {"FOO"}, {}},
    {"${FOO%.*}", {{"FOO", "archive.tar.gz"}}, "archive.tar", {"FOO"}, {}},
    {"${FOO%%.*}", {{"FOO", "archive.tar.gz"}}, "archive", {"FOO"}, {}},
    {"${FOO##*/}", {{"FOO", "/usr/local/bin/tool"}}, "tool", {"FOO"}, {}},
    {"${FOO#*/}", {{"FOO", "/usr/local/bin/tool"}}, "usr/local/bin/tool", {"FOO"}, {}},
    {"${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
     {{"FOO", "/foo*/*/*.txt"}, {"NEEDLE", R"(\*/)"}},
     "/foo.*/*.txt - /foo..*.txt",
     {"FOO", "NEEDLE"},
     {}},
    {"${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
     {{"FOO", "/tmp/tmp/bar.txt"}, {"NEEDLE", "/tmp"}},
     "/tmp/bar.txt - /bar.txt",
     {"FOO", "NEEDLE"},
     {}},
    {"${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {{"FOO", "/a/foo/b/c.txt"}, {"NEEDLE", "/?/"}, {"REPLACEMENT", "/"}},
     "/foo/b/c.txt - /foo/c.txt",
     {"FOO", "NEEDLE", "REPLACEMENT"},
     {}},
    {"${FOO/$NEEDLE/$REPLACEMENT}",
     {{"FOO", "http://google.de"}, {"NEEDLE", "http://"}, {"REPLACEMENT", "https://"}},
     "https://google.de",
     {"FOO", "NEEDLE", "REPLACEMENT"},
     {}},
    {R"(${FOO//\//\/})", {{"FOO", "/tmp/foo.txt"}}, R"(\/tmp\/foo.txt)", {"FOO"}, {}},
    {"${FOO/$BAR/ww}", {{"FOO", "xxyy"}, {"BAR", ""}}, "wwxxyy", {"FOO", "BAR"}, {}},
    {"${FOO//ww}", {{"FOO", "xxyy"}}, nullptr, {}, {}},
    {"${FOO//}", {{"FOO", "xxyy"}}, nullptr, {}, {}},
    {"${FOO///}", {{"FOO", "xxyy"}}, "xxyy", {"FOO"}, {}},
    {"${FOO///}", {}, "", {}, {"FOO"}},
    {"${FOO//x/-}", {{"FOO", "axbxc"}}, "a-b-c", {"FOO"}, {}},
    {R"(${FOO#\x})", {{"FOO", "x"}}, nullptr, {}, {}},
    {"something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
     {{"VERSION", "v1.2.3"}, {"TARGETOS", "linux"}, {"TARGETARCH", "arm"}, {"TARGETVARIANT", "v7"}},
     "something-v1.2.3.linux-arm-v7.tar.gz",
     {"VERSION", "TARGETOS", "TARGETARCH", "TARGETVARIANT"},
     {}},
    {"something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
     {{"VERSION", "v1.2.3"}, {"TARGETOS", "linux"}, {"TARGETARCH", "amd64"}},
     "something-v1.2.3.linux-amd64.tar.gz",
     {"VERSION", "TARGETOS", "TARGETARCH"},
     {"TARGETVARIANT"}},
};

TEST(ShellExpand, PatternsAndMatchesTable) {
  ShellLex lex;
  for (const MatchCase& c : kMatchCases) {
    SCOPED_TRACE(c.in);
    if (!c.out) {
      EXPECT_THROW(lex.expand(c.in, lookup_in(c.vars)), Error);
      continue;
    }
    Expansion e = lex.expand(c.in, lookup_in(c.vars));
    EXPECT_EQ(e.word, c.out);
    EXPECT_EQ(e.matched, c.matched);
    EXPECT_EQ(e.unmatched, c.unmatched);
  }
}

struct WordsCase {
  const char* in;
  std::vector<std::string> out;
};

TEST(ShellExpand, ProcessWordsSplitsWhereDockerDoes) {
  const std::map<std::string, std::string, std::less<>> vars = {{"SPACED", "x  y"}, {"PORTS", "80 443/udp"}};
  const WordsCase cases[] = {
      {"a b  c", {"a", "b", "c"}},
      {R"("a b" c)", {"a b", "c"}},
      {R"('a b'c d)", {"a bc", "d"}},
      {R"(a\ b)", {"a b"}},
      {"$SPACED", {"x", "y"}},
      {R"("$SPACED")", {"x  y"}},
      {"pre$SPACED", {"prex", "y"}},
      {"''", {}},
      {R"(a "" b)", {"a", "b"}},
      {R"(${NONE:-"q r"} s)", {"q", "r", "s"}},  // a variable's result splits, quotes and all
      {"'$SPACED'", {"$SPACED"}},
      {"8080/tcp $PORTS", {"8080/tcp", "80", "443/udp"}},
      {"", {}},
  };
  ShellLex lex;
  for (const WordsCase& c : cases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(lex.process_words(c.in, lookup_in(vars)), c.out);
  }
}

TEST(ShellExpand, BacktickEscapeForWindowsPaths) {
  ShellLex lex('`');
  const std::map<std::string, std::string, std::less<>> vars = {{"APP", "app"}};
  EXPECT_EQ(lex.process_word(R"(C:\Users\$APP)", lookup_in(vars)), R"(C:\Users\app)");
  EXPECT_EQ(lex.process_word(R"(C:\dir`$APP)", lookup_in(vars)), R"(C:\dir$APP)");
  EXPECT_EQ(lex.process_word(R"("C:\dir\")", lookup_in(vars)), R"(C:\dir\)");
  EXPECT_EQ(lex.process_word(R"("say `"hi`"")", lookup_in(vars)), R"(say "hi")");
  EXPECT_EQ(lex.process_words(R"(a` b c)", lookup_in(vars)), (std::vector<std::string>{"a b", "c"}));
}

TEST(ShellExpand, EnvironmentListLookupLastEntryWins) {
  const std::vector<std::string> env = {"foo=bar", "car=hat", "car=bike", "empty=", "bare"};
  VariableLookup get = lookup_in_env(env);
  EXPECT_EQ(get("foo"), "bar");
  EXPECT_EQ(get("car"), "bike");
  EXPECT_EQ(get("empty"), "");
  EXPECT_EQ(get("bare"), "");
  EXPECT_EQ(get("nope"), std::nullopt);
  EXPECT_EQ(ShellLex().process_word("${car}-${bare:-x}-${empty-y}", get), "bike-x-");
}

TEST(ShellExpand, LookupFunctionSeesEveryReferenceOnce) {
  std::vector<std::string> asked;
  VariableLookup get = [&](std::string_view name) -> std::optional<std::string> {
    asked.emplace_back(name);
    if (name == "USED") return "1";
    return std::nullopt;
  };
  Expansion e = ShellLex().expand("$USED ${MISSING:-d} '$QUOTED' \\$ESCAPED", get);
  EXPECT_EQ(e.word, "1 d $QUOTED $ESCAPED");
  EXPECT_EQ(asked, (std::vector<std::string>{"USED", "MISSING"}));
  EXPECT_EQ(e.matched, std::set<std::string>{"USED"});
  EXPECT_EQ(e.unmatched, std::set<std::string>{"MISSING"});
}

TEST(ShellExpand, SkipUnsetKeepsUnsetReferencesAsWritten) {
  ShellLex lex;
  lex.skip_unset(true);
  const std::map<std::string, std::string, std::less<>> vars = {{"SET", "v"}};
  EXPECT_EQ(lex.process_word("$SET $UNSET ${UNSET} ${UNSET:-d} ${UNSET#p} ${UNSET/a/b}", lookup_in(vars)),
            "v $UNSET ${UNSET} ${UNSET:-d} ${UNSET#p} ${UNSET/a/b}");
}

TEST(ShellExpand, RawQuotesAndEscapesKeepTheCharacters) {
  ShellLex lex;
  lex.raw_quotes(true).raw_escapes(true);
  EXPECT_EQ(lex.process_word(R"('a'"b" c\ d)", nullptr), R"('a'"b" c\ d)");
  EXPECT_EQ(lex.process_words(R"(RUN <<"EOF" x\ y)", nullptr),
            (std::vector<std::string>{"RUN", R"(<<"EOF")", R"(x\ y)"}));
}

TEST(ShellExpand, SkipQuotesTreatsQuotesAsText) {
  ShellLex lex;
  lex.skip_quotes(true);
  const std::map<std::string, std::string, std::less<>> vars = {{"NAME", "world"}};
  EXPECT_EQ(lex.process_word(R"(echo "hello $NAME" 'and $NAME')", lookup_in(vars)),
            R"(echo "hello world" 'and world')");
}

TEST(ShellExpand, ManyStarsStayFast) {
  // Backtracking without memory would take exponential time here.
  const std::map<std::string, std::string, std::less<>> vars = {{"X", std::string(1000, 'a')}};
  ShellLex lex;
  EXPECT_EQ(lex.process_word("${X##*a*a*a*a*a*a*a*b}", lookup_in(vars)), std::string(1000, 'a'));
  EXPECT_EQ(lex.process_word("${X%%a*a*a*a*a*a*a*}", lookup_in(vars)), "");
}

TEST(ShellExpand, GoQuote) {
  EXPECT_EQ(go_quote("plain"), R"("plain")");
  EXPECT_EQ(go_quote("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\x01")");
  EXPECT_EQ(go_quote("한국어"), "\"한국어\"");
}

}  // namespace
}  // namespace berth::build
