#include "runtime/hooks.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"

namespace berth::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using berth::test::TempDir;

oci::Hook sh(const std::string& script, std::optional<int> timeout = {}, std::vector<std::string> env = {}) {
  oci::Hook h;
  h.path = "/bin/sh";
  h.args = {"sh", "-c", script};
  h.env = std::move(env);
  h.timeout = timeout;
  return h;
}

std::string hook_error(const oci::Hook& h, const std::string& state = "{}", const std::string& phase = "prestart") {
  try {
    run_hook(h, state, phase);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

const std::string kState = R"({"ociVersion":"1.0.2","id":"c1","status":"creating","bundle":"/b"})";

TEST(Hooks, StateJsonOnStdin) {
  TempDir tmp;
  run_hook(sh("cat > " + tmp / "stdin"), kState, "prestart");
  EXPECT_EQ(read_file(tmp / "stdin"), kState);
}

TEST(Hooks, ArgsIncludingArgv0) {
  TempDir tmp;
  oci::Hook h = sh("printf '%s|%s|%s' \"$0\" \"$1\" \"$2\" > " + tmp / "out");
  h.args.insert(h.args.end(), {"name0", "one", "two words"});
  run_hook(h, kState, "poststart");
  EXPECT_EQ(read_file(tmp / "out"), "name0|one|two words");
}

TEST(Hooks, NoArgsMeansPathIsArgv0) {
  TempDir tmp;
  std::string script = tmp / "hook.sh";
  write_file(script, "#!/bin/sh\nprintf '%s' \"$0\" > " + tmp / "out" + "\n", 0755);
  oci::Hook h;
  h.path = script;
  run_hook(h, kState, "poststop");
  EXPECT_EQ(read_file(tmp / "out"), script);
}

TEST(Hooks, EnvIsExactlyTheHooks) {
  TempDir tmp;
  ::setenv("BERTH_HOOK_TEST_LEAK", "leaked", 1);
  run_hook(sh("printf '%s:%s' \"$FOO\" \"$BERTH_HOOK_TEST_LEAK\" > " + tmp / "out", {}, {"FOO=bar baz"}), kState,
           "prestart");
  ::unsetenv("BERTH_HOOK_TEST_LEAK");
  EXPECT_EQ(read_file(tmp / "out"), "bar baz:");
}

TEST(Hooks, NonZeroExitNamesHookAndLastStderrLine) {
  std::string err = hook_error(sh("echo first >&2; echo the last line >&2; echo; exit 3"), kState, "createRuntime");
  EXPECT_THAT(err, HasSubstr("createRuntime hook /bin/sh"));
  EXPECT_THAT(err, HasSubstr("exit status 3"));
  EXPECT_THAT(err, HasSubstr("the last line"));
  EXPECT_THAT(err, Not(HasSubstr("first")));
}

TEST(Hooks, KilledBySignal) {
  EXPECT_THAT(hook_error(sh("kill -TERM $$")), HasSubstr("killed by signal 15"));
}

TEST(Hooks, PathIsExecutedDirectlyWithoutPathLookup) {
  oci::Hook h;
  h.path = "sh";  // would be found by a PATH lookup
  h.args = {"sh", "-c", "exit 0"};
  std::string err = hook_error(h);
  EXPECT_THAT(err, HasSubstr("hook sh"));
  EXPECT_THAT(err, HasSubstr("no such file"));
  h.path = "/nonexistent/hook";
  EXPECT_THAT(hook_error(h), HasSubstr("/nonexistent/hook"));
}

TEST(Hooks, TimeoutKills) {
  TempDir tmp;
  std::string err = hook_error(sh("sleep 3 >/dev/null; touch " + tmp / "finished", 1));
  EXPECT_THAT(err, HasSubstr("timed out"));
  EXPECT_THAT(err, HasSubstr("prestart hook /bin/sh"));
  ::usleep(100 * 1000);
  EXPECT_FALSE(path_exists(tmp / "finished"));
}

TEST(Hooks, TimeoutAppliesAfterHookClosesStderr) {
  EXPECT_THAT(hook_error(sh("exec 2>&- >/dev/null; exec sleep 3", 1)), HasSubstr("timed out"));
}

TEST(Hooks, TimeoutAppliesWhileHookIgnoresLargeStdin) {
  std::string big = "{\"pad\":\"" + std::string(1 << 20, 'x') + "\"}";
  EXPECT_THAT(hook_error(sh("exec sleep 3 >/dev/null", 1), big), HasSubstr("timed out"));
}

TEST(Hooks, HookNotReadingStdinStillSucceeds) {
  std::string big = "{\"pad\":\"" + std::string(1 << 20, 'x') + "\"}";
  EXPECT_NO_THROW(run_hook(sh("exit 0"), big, "prestart"));
}

TEST(Hooks, ExitBeforeTimeoutIsFine) {
  EXPECT_NO_THROW(run_hook(sh("cat >/dev/null; exit 0", 5), kState, "prestart"));
}

TEST(Hooks, SigpipeDispositionRestored) {
  struct sigaction before {}, after {};
  sigaction(SIGPIPE, nullptr, &before);
  run_hook(sh("exit 0"), kState, "prestart");
  sigaction(SIGPIPE, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

// `run` blocks every signal while it waits for the container: a SIGPIPE from
// a hook that exits without reading must not stay pending (it would kill the
// runtime once unblocked).
TEST(Hooks, NoSigpipeLeftPendingWhileSignalsAreBlocked) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigprocmask(SIG_BLOCK, &pipe_only, &old);
  std::string big = "{\"pad\":\"" + std::string(1 << 20, 'x') + "\"}";
  EXPECT_NO_THROW(run_hook(sh("exit 0"), big, "prestart"));
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

TEST(Hooks, RunHooksInOrderStopsAtFirstFailure) {
  TempDir tmp;
  std::string log = tmp / "log";
  std::vector<oci::Hook> hooks = {sh("echo 1 >> " + log), sh("echo 2 >> " + log + "; exit 1"),
                                  sh("echo 3 >> " + log)};
  EXPECT_THAT([&] {
    try {
      run_hooks(hooks, kState, "poststart");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  }(), HasSubstr("exit status 1"));
  EXPECT_EQ(read_file(log), "1\n2\n");
}

}  // namespace
}  // namespace berth::runtime
