#include "base/process.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/strings.h"

namespace berth {
namespace {

using ::testing::HasSubstr;

TEST(RunCapture, ReturnsStdout) {
  EXPECT_EQ(run_capture({"echo", "hello", "world"}), "hello world\n");
  EXPECT_EQ(run_capture({"sh", "-c", "printf 'a\\0b'; echo err >&2"}), std::string("a\0b", 3));
}

TEST(RunCapture, StdinIsDevNull) {
  // cat would block on an inherited terminal or pipe.
  EXPECT_EQ(run_capture({"cat"}), "");
}

TEST(RunCapture, CapturesMoreThanAPipeBuffer) {
  std::string out = run_capture({"head", "-c", "300000", "/dev/zero"});
  EXPECT_EQ(out.size(), 300000u);
}

TEST(RunCapture, NonZeroExitIsAnErrorWithStatusAndCommand) {
  try {
    run_capture({"sh", "-c", "echo partial; exit 3"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("sh -c echo partial; exit 3"));
    EXPECT_THAT(e.what(), HasSubstr("status 3"));
  }
}

TEST(RunCapture, KilledBySignalIsAnError) {
  try {
    run_capture({"sh", "-c", "kill -KILL $$"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("status 137"));
  }
}

TEST(RunCapture, MissingProgramIsAnErrorNamingIt) {
  try {
    run_capture({"berth-no-such-program-xyz", "arg"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("berth-no-such-program-xyz"));
  }
}

TEST(RunCapture, NonZeroExitErrorCarriesStderr) {
  try {
    run_capture({"sh", "-c", "echo 'no such container' >&2; exit 1"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no such container"));
  }
}

TEST(RunProcess, SeparatesStreamsAndReportsTheExitCode) {
  std::string big(200000, 'x');
  ProcessResult r = run_process({"sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo oops >&2; exit 4"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, big);
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_FALSE(r.ok());
}

TEST(RunProcess, FeedsStdin) {
  ProcessResult r = run_process({"sh", "-c", "cat; echo done >&2"}, "hello\nworld");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "hello\nworld");
  EXPECT_EQ(r.err, "done\n");
}

TEST(RunProcess, EmptyStdinIsClosedAtOnce) {
  ProcessResult r = run_process({"wc", "-c"}, "");
  EXPECT_EQ(trim(r.out), "0");
}

TEST(RunProcess, LargeStdinAndOutputDoNotDeadlock) {
  // Both far beyond a pipe buffer: cat blocks writing its output unless we
  // read while we write.
  std::string big(1 << 20, 'y');
  big += "end";
  ProcessResult r = run_process({"cat"}, big);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, big);
}

TEST(RunProcess, ChildThatIgnoresStdinIsNotAnError) {
  // The child exits without reading: our write gets EPIPE, not a SIGPIPE that
  // would kill the test binary.
  std::string big(1 << 20, 'z');
  ProcessResult r = run_process({"sh", "-c", "echo early; exit 5"}, big);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.out, "early\n");
}

TEST(RunProcess, StdinOverloadReportsMissingProgram) {
  EXPECT_THROW(run_process({"berth-no-such-program-xyz"}, "x"), Error);
}

TEST(RunCapture, EmptyCommandIsAnError) { EXPECT_THROW(run_capture({}), Error); }

}  // namespace
}  // namespace berth
