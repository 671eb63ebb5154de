#include "runtime/signals.h"

#include <csignal>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::runtime {
namespace {

using ::testing::HasSubstr;

TEST(ParseSignal, NamesWithAndWithoutPrefixAnyCase) {
  EXPECT_EQ(parse_signal("KILL"), SIGKILL);
  EXPECT_EQ(parse_signal("SIGKILL"), SIGKILL);
  EXPECT_EQ(parse_signal("kill"), SIGKILL);
  EXPECT_EQ(parse_signal("sigkill"), SIGKILL);
  EXPECT_EQ(parse_signal("SigTerm"), SIGTERM);
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("HUP"), SIGHUP);
  EXPECT_EQ(parse_signal("USR1"), SIGUSR1);
  EXPECT_EQ(parse_signal("SIGUSR2"), SIGUSR2);
  EXPECT_EQ(parse_signal("CHLD"), SIGCHLD);
  EXPECT_EQ(parse_signal("WINCH"), SIGWINCH);
  EXPECT_EQ(parse_signal("STOP"), SIGSTOP);
  EXPECT_EQ(parse_signal("SYS"), SIGSYS);
}

TEST(ParseSignal, Aliases) {
  EXPECT_EQ(parse_signal("IOT"), SIGABRT);
  EXPECT_EQ(parse_signal("SIGCLD"), SIGCHLD);
  EXPECT_EQ(parse_signal("POLL"), SIGIO);
}

TEST(ParseSignal, Numbers) {
  EXPECT_EQ(parse_signal("9"), 9);
  EXPECT_EQ(parse_signal("1"), 1);
  EXPECT_EQ(parse_signal("15"), 15);
  EXPECT_EQ(parse_signal(std::to_string(SIGRTMAX)), SIGRTMAX);
}

TEST(ParseSignal, RealTime) {
  EXPECT_EQ(parse_signal("RTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("SIGRTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("RTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_signal("SIGRTMIN+2"), SIGRTMIN + 2);
  EXPECT_EQ(parse_signal("rtmin+1"), SIGRTMIN + 1);
  EXPECT_EQ(parse_signal("RTMAX"), SIGRTMAX);
  EXPECT_EQ(parse_signal("RTMAX-1"), SIGRTMAX - 1);
  EXPECT_EQ(parse_signal("SIGRTMAX-2"), SIGRTMAX - 2);
  EXPECT_EQ(parse_signal("RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN)), SIGRTMAX);
}

class BadSignal : public ::testing::TestWithParam<const char*> {};

TEST_P(BadSignal, IsAnErrorNamingIt) {
  std::string text = GetParam();
  try {
    int sig = parse_signal(text);
    FAIL() << text << " parsed as " << sig;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(text.empty() ? "signal" : text)) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadSignal,
                         ::testing::Values("", "0", "-1", "65", "99999999999999999999", "NOPE", "SIGFOO", "SIG",
                                           "KILLX", "9x", "RTMIN+100", "RTMAX+1", "RTMIN-1", "RTMAX-99", "RTMIN3",
                                           "RTMIN+", "RTMIN+x", "RTMAX--1", "SIGSIGKILL"));

}  // namespace
}  // namespace berth::runtime
