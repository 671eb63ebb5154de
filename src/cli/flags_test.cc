#include "cli/flags.h"

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

FlagSet run_flags() {
  FlagSet f;
  f.add_bool("i,interactive", "");
  f.add_bool("t,tty", "");
  f.add_bool("rm", "");
  f.add_bool("sig-proxy", "", true);
  f.add_value("name", "");
  f.add_list("e,env", "");
  f.stop_at_first_positional();
  return f;
}

std::vector<std::string> parse(FlagSet& f, std::vector<std::string> args) { return f.parse(args); }

TEST(Flags, CombinedShorthandsAndValues) {
  FlagSet f = run_flags();
  auto pos = parse(f, {"-it", "-e", "A=1", "-eB=2", "-e=C=3", "--env", "D=4", "--env=E=5", "--name=x", "img"});
  EXPECT_TRUE(f.on("interactive"));
  EXPECT_TRUE(f.on("tty"));
  EXPECT_EQ(f.list("env"), (std::vector<std::string>{"A=1", "B=2", "C=3", "D=4", "E=5"}));
  EXPECT_EQ(f.value("name"), "x");
  EXPECT_EQ(pos, (std::vector<std::string>{"img"}));
}

TEST(Flags, StopsAtFirstPositional) {
  FlagSet f = run_flags();
  auto pos = parse(f, {"--rm", "img", "ls", "-l", "--rm"});
  EXPECT_EQ(pos, (std::vector<std::string>{"img", "ls", "-l", "--rm"}));
}

TEST(Flags, InterspersedByDefault) {
  FlagSet f;
  f.add_bool("f,force", "");
  auto pos = parse(f, {"a", "-f", "b", "--", "-x"});
  EXPECT_TRUE(f.on("force"));
  EXPECT_EQ(pos, (std::vector<std::string>{"a", "b", "-x"}));
}

TEST(Flags, BoolDefaultsAndExplicitValues) {
  FlagSet f = run_flags();
  parse(f, {"--sig-proxy=false", "img"});
  EXPECT_FALSE(f.on("sig-proxy"));
  EXPECT_FALSE(f.on("rm"));
  EXPECT_FALSE(f.changed("rm"));
  EXPECT_TRUE(f.changed("sig-proxy"));
}

TEST(Flags, ErrorsWordedLikePflag) {
  FlagSet f = run_flags();
  try {
    parse(f, {"--foo"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "unknown flag: --foo");
    EXPECT_EQ(e.status(), 125);
  }
  EXPECT_THROW(parse(f, {"-z"}), UsageError);
  try {
    parse(f, {"-e"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "flag needs an argument: 'e' in -e");
  }
  try {
    parse(f, {"--rm=maybe"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "invalid argument \"maybe\" for \"--rm\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax");
  }
}

TEST(Flags, DashAloneIsPositional) {
  FlagSet f;
  f.add_bool("q,quiet", "");
  EXPECT_EQ(parse(f, {"-", "-q"}), (std::vector<std::string>{"-"}));
}

}  // namespace
}  // namespace berth::cli
