#include "runtime/seccomp.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/test_util.h"

namespace berth::runtime {
namespace {

using ::testing::HasSubstr;

oci::SeccompArg arg(uint32_t index, std::string op, uint64_t value, uint64_t value_two = 0) {
  oci::SeccompArg a;
  a.index = index;
  a.op = std::move(op);
  a.value = value;
  a.value_two = value_two;
  return a;
}

oci::SeccompSyscall rule(std::vector<std::string> names, std::string action, std::optional<uint32_t> errno_ret = {},
                         std::vector<oci::SeccompArg> args = {}) {
  oci::SeccompSyscall s;
  s.names = std::move(names);
  s.action = std::move(action);
  s.errno_ret = errno_ret;
  s.args = std::move(args);
  return s;
}

oci::Seccomp profile(std::string default_action, std::vector<oci::SeccompSyscall> syscalls = {}) {
  oci::Seccomp s;
  s.default_action = std::move(default_action);
  s.syscalls = std::move(syscalls);
  return s;
}

std::string compile_error(const oci::Seccomp& s) {
  try {
    SeccompFilter::compile(s);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  }
  return fmt::format("wait status {:#x}", status);
}

bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// A forked child that is killed and reaped if the test gives up on it, so a
// failed assertion never leaves a child blocked in a notified syscall.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      wait();
    }
  }
  pid_t pid() const { return pid_; }
  int wait() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

// Exit codes the child uses before it gets to the body.
constexpr int kNoNewPrivsFailed = 120;
constexpr int kLoadFailed = 121;

// Forks; the child sets no_new_privs, loads `filter` and exits with
// body(notify_fd). Returns the child's wait status.
int run_filtered(const SeccompFilter& filter, const std::function<int(int)>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(kNoNewPrivsFailed);
    int notify_fd = -1;
    if (filter.load(&notify_fd) != 0) _exit(kLoadFailed);
    _exit(body(notify_fd));
  }
  EXPECT_GT(pid, 0) << strerror(errno);
  return Child(pid).wait();
}

int run_filtered(const oci::Seccomp& spec, const std::function<int(int)>& body) {
  return run_filtered(SeccompFilter::compile(spec), body);
}

// In the child: true if the raw syscall failed with exactly `err`.
bool fails_with(long rc, int err) { return rc == -1 && errno == err; }

// Checks in the child exit with the line number (mod 256) of the failed check.
#define CHILD_CHECK(cond) \
  if (!(cond)) return (__LINE__ % 250) + 1

// ---- compile() errors -----------------------------------------------------

TEST(SeccompCompileTest, UnknownDefaultAction) {
  EXPECT_EQ(compile_error(profile("SCMP_ACT_FOO")), "seccomp: defaultAction: unknown action \"SCMP_ACT_FOO\"");
}

TEST(SeccompCompileTest, UnknownRuleAction) {
  auto s = profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_ERRNO"), rule({"getpid"}, "SCMP_ACT_FOO")});
  EXPECT_EQ(compile_error(s), "seccomp: syscalls[1]: unknown action \"SCMP_ACT_FOO\"");
}

TEST(SeccompCompileTest, UnknownActionOnSkippedSyscallIsStillAnError) {
  // Validation must not depend on which syscalls this libseccomp knows.
  auto s = profile("SCMP_ACT_ALLOW", {rule({"no_such_syscall_berth"}, "SCMP_ACT_FOO")});
  EXPECT_EQ(compile_error(s), "seccomp: syscalls[0]: unknown action \"SCMP_ACT_FOO\"");
}

TEST(SeccompCompileTest, UnknownArchitecture) {
  auto s = profile("SCMP_ACT_ALLOW");
  s.architectures = {"SCMP_ARCH_X86", "SCMP_ARCH_VAX"};
  EXPECT_EQ(compile_error(s), "seccomp: architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");
  s.architectures = {"x86_64"};  // libseccomp's own name, not the spec's
  EXPECT_EQ(compile_error(s), "seccomp: architectures[0]: unknown architecture \"x86_64\"");
}

TEST(SeccompCompileTest, UnknownOperator) {
  auto s = profile("SCMP_ACT_ALLOW", {rule({"lseek"}, "SCMP_ACT_ERRNO", {},
                                          {arg(0, "SCMP_CMP_EQ", 1), arg(1, "SCMP_CMP_FOO", 2)})});
  EXPECT_EQ(compile_error(s), "seccomp: syscalls[0]: args[1]: unknown operator \"SCMP_CMP_FOO\"");
}

TEST(SeccompCompileTest, ArgumentIndexOutOfRange) {
  auto s = profile("SCMP_ACT_ALLOW", {rule({"lseek"}, "SCMP_ACT_ERRNO", {}, {arg(6, "SCMP_CMP_EQ", 1)})});
  EXPECT_EQ(compile_error(s), "seccomp: syscalls[0]: args[0]: index 6 out of range (0 to 5)");
}

TEST(SeccompCompileTest, UnknownFlag) {
  auto s = profile("SCMP_ACT_ALLOW");
  s.flags = {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_FOO"};
  EXPECT_EQ(compile_error(s), "seccomp: flags[1]: unknown flag \"SECCOMP_FILTER_FLAG_FOO\"");
}

TEST(SeccompCompileTest, ErrnoRetOutOfRange) {
  auto s = profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_ERRNO", 70000)});
  EXPECT_EQ(compile_error(s), "seccomp: syscalls[0]: errnoRet 70000 out of range (at most 65535)");
  s = profile("SCMP_ACT_ERRNO");
  s.default_errno_ret = 65536;
  EXPECT_EQ(compile_error(s), "seccomp: defaultAction: errnoRet 65536 out of range (at most 65535)");
}

TEST(SeccompCompileTest, NotifyRestrictions) {
  EXPECT_THAT(compile_error(profile("SCMP_ACT_NOTIFY")), HasSubstr("cannot be the default action"));
  auto s = profile("SCMP_ACT_ALLOW", {rule({"read", "write"}, "SCMP_ACT_NOTIFY")});
  EXPECT_EQ(compile_error(s), "seccomp: syscalls[0]: SCMP_ACT_NOTIFY cannot be used for the write syscall");
  s = profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_ERRNO")});
  s.flags = {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};
  EXPECT_EQ(compile_error(s), "seccomp: flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs an SCMP_ACT_NOTIFY rule");
}

TEST(SeccompCompileTest, EmptySyscallName) {
  auto s = profile("SCMP_ACT_ALLOW", {rule({"getppid", ""}, "SCMP_ACT_ERRNO")});
  EXPECT_EQ(compile_error(s), "seccomp: syscalls[0]: names[1]: empty syscall name");
}

TEST(SeccompCompileTest, AcceptsEveryActionArchitectureAndFlag) {
  auto s = profile("SCMP_ACT_ALLOW", {
                                         rule({"getppid"}, "SCMP_ACT_KILL"),
                                         rule({"getpgrp"}, "SCMP_ACT_KILL_PROCESS"),
                                         rule({"getpgid"}, "SCMP_ACT_KILL_THREAD"),
                                         rule({"getsid"}, "SCMP_ACT_TRAP"),
                                         rule({"getuid"}, "SCMP_ACT_ERRNO", 5),
                                         rule({"geteuid"}, "SCMP_ACT_TRACE", 6),
                                         rule({"getgid"}, "SCMP_ACT_ALLOW"),
                                         rule({"getegid"}, "SCMP_ACT_LOG"),
                                         rule({"getresuid"}, "SCMP_ACT_NOTIFY"),
                                     });
#if defined(__x86_64__)
  s.architectures = {"SCMP_ARCH_X86",    "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
                     "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64",    "SCMP_ARCH_MIPSEL64N32",
                     "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64"};
#endif
  s.flags = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
             "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};
  SeccompFilter f = SeccompFilter::compile(s);
  EXPECT_TRUE(f.uses_notify());
  EXPECT_TRUE(f.skipped_syscalls().empty());
  EXPECT_FALSE(SeccompFilter::compile(profile("SCMP_ACT_ALLOW")).uses_notify());
}

#if defined(__x86_64__)
TEST(SeccompCompileTest, BigEndianArchitecturesAreKnownButCannotJoinX86) {
  for (const char* arch : {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_PPC",
                           "SCMP_ARCH_PPC64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
                           "SCMP_ARCH_PARISC64"}) {
    auto s = profile("SCMP_ACT_ALLOW");
    s.architectures = {arch};
    EXPECT_EQ(compile_error(s), fmt::format("seccomp: architectures[0]: {} has a different byte order than the "
                                            "native architecture", arch));
  }
}
#endif

// ---- load(): behaviour of the installed filter ----------------------------

TEST(SeccompLoadTest, ErrnoActions) {
  auto s = profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_ERRNO", 42),
                                      rule({"getuid"}, "SCMP_ACT_ERRNO")});  // no errnoRet: EPERM
  int status = run_filtered(s, [](int notify_fd) {
    CHILD_CHECK(notify_fd == -1);
    CHILD_CHECK(fails_with(syscall(SYS_getppid), 42));
    CHILD_CHECK(fails_with(syscall(SYS_getuid), EPERM));
    CHILD_CHECK(syscall(SYS_getpid) > 0);
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

TEST(SeccompLoadTest, UnknownSyscallIsSkipped) {
  auto s = profile("SCMP_ACT_ALLOW", {rule({"no_such_syscall_berth", "getppid"}, "SCMP_ACT_ERRNO", 42)});
  SeccompFilter f = SeccompFilter::compile(s);
  EXPECT_EQ(f.skipped_syscalls(), std::vector<std::string>{"no_such_syscall_berth"});
  int status = run_filtered(f, [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_getppid), 42));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

// An SCMP_ACT_ALLOW rule for every native syscall except `except`, so a
// deny-by-default filter leaves the child (and any sanitizer runtime) working.
oci::SeccompSyscall allow_all_but(const std::vector<std::string>& except) {
  oci::SeccompSyscall allow = rule({}, "SCMP_ACT_ALLOW");
  for (int nr = 0; nr < 1024; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name == nullptr) continue;
    if (std::find(except.begin(), except.end(), name) == except.end()) allow.names.push_back(name);
    free(name);
  }
  return allow;
}

TEST(SeccompLoadTest, DefaultErrnoRetAndRulesEqualToDefault) {
  std::vector<oci::SeccompSyscall> rules = {
      allow_all_but({"getppid", "getuid", "getgid"}),
      rule({"getuid"}, "SCMP_ACT_ERRNO", 61),  // same as default: skipped, not an error
      rule({"getgid"}, "SCMP_ACT_ERRNO"),      // EPERM differs from the default
  };
  auto s = profile("SCMP_ACT_ERRNO", rules);
  s.default_errno_ret = 61;
  int status = run_filtered(s, [](int) {
    CHILD_CHECK(syscall(SYS_getpid) > 0);
    CHILD_CHECK(fails_with(syscall(SYS_getppid), 61));
    CHILD_CHECK(fails_with(syscall(SYS_getuid), 61));
    CHILD_CHECK(fails_with(syscall(SYS_getgid), EPERM));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);

  // Without defaultErrnoRet the default ERRNO action returns EPERM.
  status = run_filtered(profile("SCMP_ACT_ERRNO", {rules[0]}), [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_getppid), EPERM));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

TEST(SeccompLoadTest, ArgumentConditionsAreAnded) {
  auto s = profile("SCMP_ACT_ALLOW",
                   {
                       rule({"personality"}, "SCMP_ACT_ERRNO", 7, {arg(0, "SCMP_CMP_EQ", 0xffffffff)}),
                       rule({"lseek"}, "SCMP_ACT_ERRNO", EAGAIN,
                            {arg(0, "SCMP_CMP_EQ", 1000), arg(2, "SCMP_CMP_EQ", SEEK_END)}),
                   });
  int status = run_filtered(s, [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_personality, 0xffffffffUL), 7));
    CHILD_CHECK(syscall(SYS_personality, 0UL) != -1);  // PER_LINUX, what we already have
    // fd 1000 is not open: the kernel says EBADF unless the rule matches.
    CHILD_CHECK(fails_with(syscall(SYS_lseek, 1000, 0, SEEK_END), EAGAIN));
    CHILD_CHECK(fails_with(syscall(SYS_lseek, 1000, 0, SEEK_SET), EBADF));
    CHILD_CHECK(fails_with(syscall(SYS_lseek, 1001, 0, SEEK_END), EBADF));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

TEST(SeccompLoadTest, ConditionsOnTheSameArgumentAreOred) {
  auto s = profile("SCMP_ACT_ALLOW", {rule({"lseek"}, "SCMP_ACT_ERRNO", EAGAIN,
                                           {arg(0, "SCMP_CMP_EQ", 2000), arg(0, "SCMP_CMP_EQ", 2001)})});
  int status = run_filtered(s, [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_lseek, 2000, 0, SEEK_SET), EAGAIN));
    CHILD_CHECK(fails_with(syscall(SYS_lseek, 2001, 0, SEEK_SET), EAGAIN));
    CHILD_CHECK(fails_with(syscall(SYS_lseek, 2002, 0, SEEK_SET), EBADF));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

TEST(SeccompLoadTest, EveryOperator) {
  struct Case {
    const char* op;
    uint64_t value, value_two;
    uint64_t match, no_match;  // lseek offsets
  };
  const Case cases[] = {
      {"SCMP_CMP_NE", 5, 0, 6, 5},
      {"SCMP_CMP_LT", 5, 0, 4, 5},
      {"SCMP_CMP_LE", 5, 0, 5, 6},
      {"SCMP_CMP_EQ", 5, 0, 5, 4},
      {"SCMP_CMP_EQ", 0x100000005, 0, 0x100000005, 5},  // all 64 bits compared
      {"SCMP_CMP_GE", 5, 0, 5, 4},
      {"SCMP_CMP_GT", 5, 0, 6, 5},
      {"SCMP_CMP_MASKED_EQ", 0xf0, 0x30, 0x35, 0x45},  // value is the mask
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("{} {:#x} {:#x}", c.op, c.value, c.value_two));
    auto s = profile("SCMP_ACT_ALLOW",
                     {rule({"lseek"}, "SCMP_ACT_ERRNO", EAGAIN, {arg(1, c.op, c.value, c.value_two)})});
    int status = run_filtered(s, [&c](int) {
      CHILD_CHECK(fails_with(syscall(SYS_lseek, 1000, c.match, SEEK_SET), EAGAIN));
      CHILD_CHECK(fails_with(syscall(SYS_lseek, 1000, c.no_match, SEEK_SET), EBADF));
      return 0;
    });
    EXPECT_TRUE(exited_ok(status)) << describe(status);
  }
}

TEST(SeccompLoadTest, LongAllowList) {
  // Docker-sized: every native syscall but getppid is allowed. Long profiles
  // take libseccomp's binary-tree path and must still fit the kernel limit.
  oci::SeccompSyscall allow = allow_all_but({"getppid"});
  ASSERT_GT(allow.names.size(), 300u);
  int status = run_filtered(profile("SCMP_ACT_ERRNO", {allow}), [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_getppid), EPERM));
    CHILD_CHECK(syscall(SYS_getpid) > 0);
    CHILD_CHECK(syscall(SYS_getuid) == getuid());
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

TEST(SeccompLoadTest, KillActionsSendSigsys) {
  for (const char* action : {"SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS"}) {
    SCOPED_TRACE(action);
    int status = run_filtered(profile("SCMP_ACT_ALLOW", {rule({"getppid"}, action)}), [](int) {
      syscall(SYS_getppid);
      return 1;
    });
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) << describe(status);
  }
}

TEST(SeccompLoadTest, KillProcessKillsEveryThread) {
  int status = run_filtered(profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_KILL_PROCESS")}), [](int) {
    std::thread([] { syscall(SYS_getppid); }).join();
    return 1;  // only reached if the main thread survived
  });
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) << describe(status);
}

TEST(SeccompLoadTest, TrapRaisesSigsysWithTheSyscall) {
  SeccompFilter f = SeccompFilter::compile(profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_TRAP")}));
  pid_t pid = fork();
  if (pid == 0) {
    struct sigaction sa = {};
    sa.sa_flags = SA_SIGINFO;
    sa.sa_sigaction = [](int sig, siginfo_t* info, void*) {
      // si_code 1 is SYS_SECCOMP.
      _exit(sig == SIGSYS && info->si_code == 1 && info->si_syscall == SYS_getppid ? 0 : 2);
    };
    sigaction(SIGSYS, &sa, nullptr);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || f.load(nullptr) != 0) _exit(kLoadFailed);
    syscall(SYS_getppid);
    _exit(1);
  }
  ASSERT_GT(pid, 0);
  int status = Child(pid).wait();
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

TEST(SeccompLoadTest, TraceWithoutTracerFailsWithEnosys) {
  int status = run_filtered(profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_TRACE", 5)}), [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_getppid), ENOSYS));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

TEST(SeccompLoadTest, LogAllows) {
  pid_t parent = getpid();
  auto s = profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_LOG")});
  s.flags = {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};
  int status = run_filtered(s, [parent](int) {
    CHILD_CHECK(syscall(SYS_getppid) == parent);
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

TEST(SeccompLoadTest, TsyncFiltersEveryThread) {
  for (bool tsync : {false, true}) {
    SCOPED_TRACE(tsync ? "TSYNC" : "no TSYNC");
    auto s = profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_ERRNO", 42)});
    if (tsync) s.flags = {"SECCOMP_FILTER_FLAG_TSYNC"};
    SeccompFilter f = SeccompFilter::compile(s);
    pid_t pid = fork();
    if (pid == 0) {
      // The thread exists before load() and calls getppid after it.
      int go[2];
      if (pipe(go) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(kNoNewPrivsFailed);
      long thread_rc = 0;
      int thread_errno = 0;
      std::thread t([&] {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(3);
        thread_rc = syscall(SYS_getppid);
        thread_errno = errno;
      });
      int rc = f.load(nullptr);
      if (write(go[1], "x", 1) != 1) _exit(3);
      t.join();
      if (rc != 0) _exit(kLoadFailed);
      bool filtered = thread_rc == -1 && thread_errno == 42;
      _exit(filtered == tsync ? 0 : 1);
    }
    ASSERT_GT(pid, 0);
    int status = Child(pid).wait();
    EXPECT_TRUE(exited_ok(status)) << describe(status);
  }
}

#if defined(__x86_64__)
// getppid through the i386 entry point.
long getppid_i386() {
  long rc;
  asm volatile("int $0x80" : "=a"(rc) : "a"(64L) : "memory", "r8", "r9", "r10", "r11");
  return rc;
}

TEST(SeccompLoadTest, ExtraArchitectures) {
  // Skip if this kernel has no i386 entry point (no IA32 emulation).
  pid_t pid = fork();
  if (pid == 0) _exit(getppid_i386() > 0 ? 0 : 1);
  ASSERT_GT(pid, 0);
  if (!exited_ok(Child(pid).wait())) GTEST_SKIP() << "no i386 syscall entry";

  // socketcall exists only on i386; it must not stop x86_64 rules from working.
  std::vector<oci::SeccompSyscall> rules = {rule({"getppid", "socketcall"}, "SCMP_ACT_ERRNO", 42)};
  auto with_x86 = profile("SCMP_ACT_ALLOW", rules);
  with_x86.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  int status = run_filtered(with_x86, [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_getppid), 42));
    CHILD_CHECK(getppid_i386() == -42);  // the rule was translated for i386
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);

  // Without SCMP_ARCH_X86 an i386 syscall is a bad architecture: killed.
  status = run_filtered(profile("SCMP_ACT_ALLOW", rules), [](int) {
    getppid_i386();
    return 1;
  });
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) << describe(status);
}
#endif

TEST(SeccompLoadTest, ReturnsErrnoInsteadOfThrowing) {
  // Without no_new_privs and CAP_SYS_ADMIN the kernel refuses the filter.
  SeccompFilter f = SeccompFilter::compile(profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_ERRNO")}));
  pid_t pid = fork();
  if (pid == 0) {
    __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capset, &hdr, data) != 0) _exit(3);
    int notify_fd = 7;
    int rc = f.load(&notify_fd);
    _exit(rc == -EACCES && notify_fd == -1 ? 0 : 1);
  }
  ASSERT_GT(pid, 0);
  int status = Child(pid).wait();
  EXPECT_TRUE(exited_ok(status)) << describe(status);
}

// ---- SCMP_ACT_NOTIFY and listenerPath --------------------------------------

// A listening unix socket in a fresh temporary directory.
class SeccompListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-seccomp-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    dir_ = tmpl;
    path_ = dir_ + "/agent.sock";
    listener_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(listener_.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
    ASSERT_EQ(listen(listener_.get(), 4), 0);
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  static bool wait_readable(int fd, int timeout_ms = 10000) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
  }

  // Accepts one connection and reads it to EOF; *fd receives the descriptor
  // passed along, or -1.
  std::string receive(UniqueFd* fd) {
    std::string payload;
    if (!wait_readable(listener_.get())) return "(no connection)";
    UniqueFd conn(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) return "(accept failed)";
    for (;;) {
      char buf[4096];
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC);
      if (n <= 0) break;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          int received;
          std::memcpy(&received, CMSG_DATA(c), sizeof(int));
          fd->reset(received);
        }
      }
      payload.append(buf, static_cast<size_t>(n));
    }
    return payload;
  }

  std::string dir_, path_;
  UniqueFd listener_;
};

TEST_F(SeccompListenerTest, SendsFdAndState) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  const std::string state = R"({"ociVersion":"1.0.2","fds":["seccompFd"],"pid":42,"metadata":"m"})";
  send_seccomp_listener_fd(path_, r.get(), state);

  UniqueFd got;
  EXPECT_EQ(receive(&got), state);
  ASSERT_TRUE(got.valid());
  // The received descriptor is the read end of our pipe.
  ASSERT_EQ(write(w.get(), "z", 1), 1);
  char c = 0;
  EXPECT_EQ(read(got.get(), &c, 1), 1);
  EXPECT_EQ(c, 'z');
}

TEST_F(SeccompListenerTest, SendsLargeState) {
  std::string state = "{\"metadata\":\"" + std::string(1 << 20, 'x') + "\"}";
  UniqueFd got;
  std::string received;
  std::thread agent([&] { received = receive(&got); });
  send_seccomp_listener_fd(path_, STDIN_FILENO, state);
  agent.join();
  EXPECT_EQ(received.size(), state.size());
  EXPECT_TRUE(received == state);
  EXPECT_TRUE(got.valid());
}

TEST_F(SeccompListenerTest, ErrorsNameThePath) {
  std::string missing = dir_ + "/missing.sock";
  try {
    send_seccomp_listener_fd(missing, STDIN_FILENO, "{}");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "seccomp: listenerPath " + missing + ": connect: no such file or directory");
  }
  std::string too_long = "/" + std::string(200, 'a');
  EXPECT_THROW(send_seccomp_listener_fd(too_long, STDIN_FILENO, "{}"), Error);
  EXPECT_THROW(send_seccomp_listener_fd("", STDIN_FILENO, "{}"), Error);
}

// The whole notify path: the container process loads the filter, hands the
// listener to an agent, and its notified syscall gets the agent's answer.
TEST_F(SeccompListenerTest, NotifyAgentAnswersSyscalls) {
  for (bool extra_flags : {false, true}) {
    SCOPED_TRACE(extra_flags ? "TSYNC + WAIT_KILLABLE_RECV" : "no flags");
    auto s = profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_NOTIFY")});
    if (extra_flags) s.flags = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};
    SeccompFilter f = SeccompFilter::compile(s);
    ASSERT_TRUE(f.uses_notify());
    const std::string state = R"({"ociVersion":"1.0.2","fds":["seccompFd"]})";
    std::string path = path_;

    pid_t pid = fork();
    if (pid == 0) {
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(kNoNewPrivsFailed);
      int notify_fd = -1;
      if (f.load(&notify_fd) != 0) _exit(kLoadFailed);
      if (notify_fd < 0 || (fcntl(notify_fd, F_GETFD) & FD_CLOEXEC) == 0) _exit(2);
      try {
        send_seccomp_listener_fd(path, notify_fd, state);
      } catch (const Error&) {
        _exit(3);
      }
      close(notify_fd);
      _exit(syscall(SYS_getppid) == 4242 ? 0 : 4);
    }
    ASSERT_GT(pid, 0);
    Child child(pid);

    UniqueFd notify;
    ASSERT_EQ(receive(&notify), state);
    ASSERT_TRUE(notify.valid());
    char link[128] = {};
    ASSERT_GT(readlink(fmt::format("/proc/self/fd/{}", notify.get()).c_str(), link, sizeof(link) - 1), 0);
    EXPECT_THAT(link, HasSubstr("seccomp"));

    ASSERT_TRUE(wait_readable(notify.get())) << "no notification";
    seccomp_notif* req = nullptr;
    seccomp_notif_resp* resp = nullptr;
    ASSERT_EQ(seccomp_notify_alloc(&req, &resp), 0);
    ASSERT_EQ(seccomp_notify_receive(notify.get(), req), 0);
    EXPECT_EQ(req->data.nr, SYS_getppid);
    EXPECT_EQ(static_cast<pid_t>(req->pid), pid);
    resp->id = req->id;
    resp->val = 4242;
    resp->error = 0;
    resp->flags = 0;
    EXPECT_EQ(seccomp_notify_respond(notify.get(), resp), 0);
    seccomp_notify_free(req, resp);

    int status = child.wait();
    EXPECT_TRUE(exited_ok(status)) << describe(status);
  }
}

}  // namespace
}  // namespace berth::runtime

namespace berth::runtime {
namespace {

// ---- the compiled-program cache -------------------------------------------
TEST(SeccompCacheTest, SecondCompileReadsTheCacheAndBehavesTheSame) {
  test::TempDir dir;
  std::string cache = dir / "cache";
  auto s = profile("SCMP_ACT_ALLOW", {rule({"no_such_syscall_berth", "getppid"}, "SCMP_ACT_ERRNO", 42)});
  SeccompFilter first = SeccompFilter::compile(s, cache);
  ASSERT_EQ(test::count_entries(cache), 1);
  std::string file;
  for (const auto& e : std::filesystem::directory_iterator(cache)) file = e.path();
  SeccompFilter second = SeccompFilter::compile(s, cache);
  EXPECT_EQ(second.skipped_syscalls(), std::vector<std::string>{"no_such_syscall_berth"});
  int status = run_filtered(second, [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_getppid), 42));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);

  // A different profile never hits the first one's entry.
  auto other = profile("SCMP_ACT_ALLOW", {rule({"getppid"}, "SCMP_ACT_ERRNO", 7)});
  status = run_filtered(SeccompFilter::compile(other, cache), [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_getppid), 7));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
  EXPECT_EQ(test::count_entries(cache), 2);

  // A damaged entry is recompiled, not trusted.
  std::string data = read_file(file);
  write_file(file, data.substr(0, data.size() - 3));
  status = run_filtered(SeccompFilter::compile(s, cache), [](int) {
    CHILD_CHECK(fails_with(syscall(SYS_getppid), 42));
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << describe(status);
  EXPECT_EQ(read_file(file).size(), data.size());
}

}  // namespace
}  // namespace berth::runtime
