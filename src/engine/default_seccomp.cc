// The default profile is kept as a table of syscall groups (what they are
// for, and under which condition a container may use them) rather than as
// one opaque JSON blob, so a reviewer can see why each call is allowed.
#include "engine/default_seccomp.h"

#include <sched.h>
#include <sys/personality.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>

#include "base/error.h"
#include "base/strings.h"

namespace berth::engine {
namespace {

using nlohmann::json;

constexpr const char* kAllow = "SCMP_ACT_ALLOW";
constexpr const char* kErrno = "SCMP_ACT_ERRNO";

struct Condition {
  std::vector<std::string> caps;
  std::vector<std::string> arches;  // Go architecture names
  std::string min_kernel;           // "4.8"
};

struct ArgCheck {
  unsigned index = 0;
  uint64_t value = 0;
  const char* op = "SCMP_CMP_EQ";
};

struct Rule {
  std::vector<std::string> names;
  const char* action = kAllow;
  std::optional<int> errno_ret;
  std::vector<ArgCheck> args;
  Condition includes, excludes;
  const char* comment = nullptr;
};

// Syscalls any container may make, grouped by what they are for. They form
// the profile's first (unconditional) rule.
const std::vector<std::vector<std::string>>& unconditional_groups() {
  static const std::vector<std::vector<std::string>> kGroups = {
      // Files, directories, extended attributes.
      {"access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range", "creat", "dup",
       "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir",
       "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr",
       "flistxattr", "flock", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
       "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents", "getdents64", "getxattr",
       "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "lchown", "lchown32", "lgetxattr",
       "link", "linkat", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
       "lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "name_to_handle_at", "newfstatat", "open", "openat",
       "openat2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
       "readlinkat", "readv", "removexattr", "rename", "renameat", "renameat2", "rmdir", "sendfile", "sendfile64",
       "setxattr", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
       "sync_file_range", "syncfs", "tee", "truncate", "truncate64", "umask", "unlink", "unlinkat", "utime",
       "utimensat", "utimensat_time64", "utimes", "vmsplice", "write", "writev"},
      // Waiting for events: polling, async I/O, pipes, event descriptors.
      {"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
       "epoll_wait_old", "eventfd", "eventfd2", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
       "io_pgetevents_time64", "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup",
       "ioctl", "pipe", "pipe2", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select",
       "_newselect", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
       "timerfd_settime", "timerfd_settime64"},
      // Memory.
      {"brk", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mlock", "mlock2", "mlockall",
       "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free",
       "pkey_mprotect", "remap_file_pages"},
      // Processes, threads, scheduling, limits. (clone is conditional, below.)
      {"capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "futex", "futex_time64",
       "futex_waitv", "get_robust_list", "get_thread_area", "getcpu", "getpgid", "getpgrp", "getpid", "getppid",
       "getpriority", "getrlimit", "getrusage", "getsid", "gettid", "ioprio_get", "ioprio_set", "landlock_add_rule",
       "landlock_create_ruleset", "landlock_restrict_self", "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64",
       "process_mrelease", "restart_syscall", "rseq", "sched_getaffinity", "sched_getattr", "sched_getparam",
       "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
       "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
       "sched_yield", "seccomp", "set_robust_list", "set_thread_area", "set_tid_address", "setpgid", "setpriority",
       "setrlimit", "setsid", "sysinfo", "times", "ugetrlimit", "uname", "vfork", "wait4", "waitid", "waitpid"},
      // Signals.
      {"alarm", "kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
       "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
       "sigaltstack", "sigprocmask", "sigreturn", "tgkill", "tkill"},
      // User and group ids (the capability set decides what may change).
      {"getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
       "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid", "getuid32", "setfsgid", "setfsgid32",
       "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setregid", "setregid32",
       "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32"},
      // Clocks and timers (setting the clock needs CAP_SYS_TIME, below).
      {"adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
       "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "getitimer", "gettimeofday", "nanosleep",
       "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
       "timer_settime", "timer_settime64"},
      // Sockets (socket itself is conditional, below).
      {"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen", "recv",
       "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg", "sendto", "setsockopt",
       "shutdown", "socketcall", "socketpair"},
      // System V and POSIX IPC.
      {"ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
       "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop",
       "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget"},
      // Randomness.
      {"getrandom"},
  };
  return kGroups;
}

// clone() flags that create namespaces; without CAP_SYS_ADMIN a container
// may clone only when none of them is set.
constexpr uint64_t kNamespaceCloneFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

// Rules after the unconditional one, in the order docker lists them.
const std::vector<Rule>& conditional_rules() {
  static const std::vector<Rule> kRules = [] {
    std::vector<Rule> r;
    // Before 4.8 ptrace could be used to bypass seccomp.
    r.push_back({.names = {"process_vm_readv", "process_vm_writev", "ptrace"}, .includes = {.min_kernel = "4.8"}});
    // Any address family but AF_VSOCK, which reaches the host.
    r.push_back({.names = {"socket"}, .args = {{0, 40, "SCMP_CMP_NE"}}});
    // Only the personalities programs actually use; 0xffffffff queries.
    for (uint64_t persona : {uint64_t{PER_LINUX}, uint64_t{PER_LINUX32}, uint64_t{UNAME26},
                             uint64_t{PER_LINUX32} | uint64_t{UNAME26}, uint64_t{0xffffffff}})
      r.push_back({.names = {"personality"}, .args = {{0, persona, "SCMP_CMP_EQ"}}});
    // Architecture-specific calls.
    r.push_back({.names = {"sync_file_range2", "swapcontext"}, .includes = {.arches = {"ppc64le"}}});
    r.push_back({.names = {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
                           "set_tls"},
                 .includes = {.arches = {"arm", "arm64"}}});
    r.push_back({.names = {"arch_prctl"}, .includes = {.arches = {"amd64", "x32"}}});
    r.push_back({.names = {"modify_ldt"}, .includes = {.arches = {"amd64", "x32", "x86"}}});
    r.push_back({.names = {"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"},
                 .includes = {.arches = {"s390", "s390x"}}});
    r.push_back({.names = {"riscv_flush_icache"}, .includes = {.arches = {"riscv64"}}});
    // Calls that are safe exactly when the matching capability was granted.
    r.push_back({.names = {"open_by_handle_at"}, .includes = {.caps = {"CAP_DAC_READ_SEARCH"}}});
    r.push_back({.names = {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                           "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                           "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
                           "umount2", "unshare"},
                 .includes = {.caps = {"CAP_SYS_ADMIN"}}});
    // Without CAP_SYS_ADMIN: clone only without namespace flags (the flags
    // are the second argument on s390).
    r.push_back({.names = {"clone"},
                 .args = {{0, kNamespaceCloneFlags, "SCMP_CMP_MASKED_EQ"}},
                 .excludes = {.caps = {"CAP_SYS_ADMIN"}, .arches = {"s390", "s390x"}}});
    r.push_back({.names = {"clone"},
                 .args = {{1, kNamespaceCloneFlags, "SCMP_CMP_MASKED_EQ"}},
                 .includes = {.arches = {"s390", "s390x"}},
                 .excludes = {.caps = {"CAP_SYS_ADMIN"}},
                 .comment = "s390 parameter ordering for clone is different"});
    // clone3 passes its flags in memory seccomp cannot inspect: answer
    // ENOSYS so the C library falls back to clone, which is filtered above.
    r.push_back({.names = {"clone3"}, .action = kErrno, .errno_ret = ENOSYS, .excludes = {.caps = {"CAP_SYS_ADMIN"}}});
    r.push_back({.names = {"reboot"}, .includes = {.caps = {"CAP_SYS_BOOT"}}});
    r.push_back({.names = {"chroot"}, .includes = {.caps = {"CAP_SYS_CHROOT"}}});
    r.push_back({.names = {"delete_module", "init_module", "finit_module"}, .includes = {.caps = {"CAP_SYS_MODULE"}}});
    r.push_back({.names = {"acct"}, .includes = {.caps = {"CAP_SYS_PACCT"}}});
    r.push_back({.names = {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"},
                 .includes = {.caps = {"CAP_SYS_PTRACE"}}});
    r.push_back({.names = {"iopl", "ioperm"}, .includes = {.caps = {"CAP_SYS_RAWIO"}}});
    r.push_back({.names = {"settimeofday", "stime", "clock_settime", "clock_settime64"},
                 .includes = {.caps = {"CAP_SYS_TIME"}}});
    r.push_back({.names = {"vhangup"}, .includes = {.caps = {"CAP_SYS_TTY_CONFIG"}}});
    r.push_back({.names = {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"},
                 .includes = {.caps = {"CAP_SYS_NICE"}}});
    r.push_back({.names = {"syslog"}, .includes = {.caps = {"CAP_SYSLOG"}}});
    r.push_back({.names = {"bpf"}, .includes = {.caps = {"CAP_BPF"}}});
    r.push_back({.names = {"perf_event_open"}, .includes = {.caps = {"CAP_PERFMON"}}});
    return r;
  }();
  return kRules;
}

// Native architecture -> the sub-architectures its processes may also use.
const std::vector<std::pair<std::string, std::vector<std::string>>>& arch_map() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kMap = {
      {"SCMP_ARCH_X86_64", {"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
      {"SCMP_ARCH_AARCH64", {"SCMP_ARCH_ARM"}},
      {"SCMP_ARCH_MIPS64", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"}},
      {"SCMP_ARCH_MIPS64N32", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"}},
      {"SCMP_ARCH_MIPSEL64", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"}},
      {"SCMP_ARCH_MIPSEL64N32", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"}},
      {"SCMP_ARCH_S390X", {"SCMP_ARCH_S390"}},
      {"SCMP_ARCH_RISCV64", {}},
  };
  return kMap;
}

json condition_json(const Condition& c) {
  json j = json::object();
  if (!c.caps.empty()) j["caps"] = c.caps;
  if (!c.arches.empty()) j["arches"] = c.arches;
  if (!c.min_kernel.empty()) j["minKernel"] = c.min_kernel;
  return j;
}

json rule_json(const Rule& r) {
  json j = {{"names", r.names}, {"action", r.action}};
  if (r.errno_ret) j["errnoRet"] = *r.errno_ret;
  if (!r.args.empty()) {
    j["args"] = json::array();
    for (const auto& a : r.args) j["args"].push_back({{"index", a.index}, {"value", a.value}, {"op", a.op}});
  }
  if (r.comment) j["comment"] = r.comment;
  if (json inc = condition_json(r.includes); !inc.empty()) j["includes"] = inc;
  if (json exc = condition_json(r.excludes); !exc.empty()) j["excludes"] = exc;
  return j;
}

// ---- conversion ----

bool in(const json& list, const std::string& s) {
  if (!list.is_array()) return false;
  for (const auto& e : list)
    if (e.is_string() && e.get<std::string>() == s) return true;
  return false;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// "4.8" / "5.10.0" -> true when the host kernel is at least that.
bool kernel_at_least(const json& min, const SeccompHost& host) {
  if (!min.is_string()) fail("Decoding seccomp profile failed: minKernel must be a string like \"4.8\"");
  auto parts = split(min.get<std::string>(), '.');
  unsigned long long major = 0, minor = 0;
  if (parts.size() < 2 || !parse_uint64(parts[0], &major) || !parse_uint64(parts[1], &minor))
    fail("Decoding seccomp profile failed: invalid kernel version {:?}: expected <major>.<minor>",
         min.get<std::string>());
  if (static_cast<unsigned long long>(host.kernel_major) != major)
    return static_cast<unsigned long long>(host.kernel_major) > major;
  return static_cast<unsigned long long>(host.kernel_minor) >= minor;
}

// Whether a rule survives docker's includes/excludes filtering.
bool rule_applies(const json& rule, const std::vector<std::string>& caps, const SeccompHost& host) {
  if (auto ex = rule.find("excludes"); ex != rule.end() && ex->is_object()) {
    if (in(ex->value("arches", json::array()), host.go_arch)) return false;
    for (const auto& c : ex->value("caps", json::array()))
      if (c.is_string() && contains(caps, c.get<std::string>())) return false;
    if (auto mk = ex->find("minKernel"); mk != ex->end() && !mk->is_null() && kernel_at_least(*mk, host)) return false;
  }
  if (auto inc = rule.find("includes"); inc != rule.end() && inc->is_object()) {
    json arches = inc->value("arches", json::array());
    if (!arches.empty() && !in(arches, host.go_arch)) return false;
    for (const auto& c : inc->value("caps", json::array()))
      if (!c.is_string() || !contains(caps, c.get<std::string>())) return false;
    if (auto mk = inc->find("minKernel"); mk != inc->end() && !mk->is_null() && !kernel_at_least(*mk, host))
      return false;
  }
  return true;
}

json oci_syscall(const json& rule) {
  json names = rule.value("names", json::array());
  if (auto name = rule.find("name"); name != rule.end() && name->is_string() && !name->get<std::string>().empty()) {
    if (!names.empty()) fail("use either 'name' or 'names'");
    names = json::array({*name});
  }
  json out = {{"names", names}, {"action", rule.value("action", "")}};
  if (auto e = rule.find("errnoRet"); e != rule.end() && !e->is_null()) out["errnoRet"] = *e;
  if (auto args = rule.find("args"); args != rule.end() && args->is_array() && !args->empty()) {
    out["args"] = json::array();
    for (const auto& a : *args) {
      json arg = {{"index", a.value("index", 0)}, {"value", a.value("value", uint64_t{0})}, {"op", a.value("op", "")}};
      if (a.contains("valueTwo")) arg["valueTwo"] = a["valueTwo"];
      out["args"].push_back(arg);
    }
  }
  return out;
}

// The conversion proper; json type errors surface to the caller.
json convert_profile(const json& p, const std::vector<std::string>& caps, const SeccompHost& host) {
  if (!p.is_object()) fail("Decoding seccomp profile failed: expected a JSON object");
  json syscalls = p.value("syscalls", json::array());
  if (!syscalls.is_array()) fail("Decoding seccomp profile failed: syscalls must be an array");
  std::string default_action = p.value("defaultAction", "");
  if (default_action.empty() && syscalls.empty()) return nullptr;  // docker: no filter at all

  json arches = p.value("architectures", json::array());
  json arch_map_json = p.value("archMap", json::array());
  if (!arches.is_array() || !arch_map_json.is_array())
    fail("Decoding seccomp profile failed: architectures and archMap must be arrays");
  if (!arches.empty() && !arch_map_json.empty())
    fail("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or "
         "'archMap'");

  json out = {{"defaultAction", default_action}};
  if (auto e = p.find("defaultErrnoRet"); e != p.end() && !e->is_null()) out["defaultErrnoRet"] = *e;
  json out_arches = json::array();
  for (const auto& entry : arch_map_json) {
    if (entry.value("architecture", "") != host.native_arch) continue;
    out_arches.push_back(host.native_arch);
    for (const auto& sub : entry.value("subArchitectures", json::array())) out_arches.push_back(sub);
  }
  for (const auto& a : arches) out_arches.push_back(a);
  if (!out_arches.empty()) out["architectures"] = out_arches;
  for (const char* key : {"flags", "listenerPath", "listenerMetadata"})
    if (auto v = p.find(key); v != p.end() && !v->is_null()) out[key] = *v;

  json rules = json::array();
  for (const auto& rule : syscalls) {
    if (!rule.is_object()) fail("Decoding seccomp profile failed: syscalls entries must be objects");
    json converted = oci_syscall(rule);  // validates name/names even for rules filtered out
    if (rule_applies(rule, caps, host)) rules.push_back(std::move(converted));
  }
  out["syscalls"] = rules;
  return out;
}

}  // namespace

json docker_default_seccomp_profile() {
  std::vector<std::string> allowed;
  for (const auto& group : unconditional_groups()) allowed.insert(allowed.end(), group.begin(), group.end());
  std::sort(allowed.begin(), allowed.end());

  json arch_map_json = json::array();
  for (const auto& [arch, subs] : arch_map())
    arch_map_json.push_back({{"architecture", arch}, {"subArchitectures", subs.empty() ? json(nullptr) : json(subs)}});

  json syscalls = json::array({rule_json(Rule{.names = allowed})});
  for (const auto& r : conditional_rules()) syscalls.push_back(rule_json(r));
  return {{"defaultAction", kErrno}, {"defaultErrnoRet", EPERM}, {"archMap", arch_map_json}, {"syscalls", syscalls}};
}

SeccompHost SeccompHost::current() {
  struct utsname u {};
  ::uname(&u);
  // uname machine -> (Go arch, libseccomp native arch).
  static const std::map<std::string, std::pair<std::string, std::string>> kArches = {
      {"x86_64", {"amd64", "SCMP_ARCH_X86_64"}},   {"i686", {"386", "SCMP_ARCH_X86"}},
      {"i386", {"386", "SCMP_ARCH_X86"}},          {"aarch64", {"arm64", "SCMP_ARCH_AARCH64"}},
      {"armv7l", {"arm", "SCMP_ARCH_ARM"}},        {"armv6l", {"arm", "SCMP_ARCH_ARM"}},
      {"ppc64le", {"ppc64le", "SCMP_ARCH_PPC64LE"}}, {"s390x", {"s390x", "SCMP_ARCH_S390X"}},
      {"riscv64", {"riscv64", "SCMP_ARCH_RISCV64"}}, {"mips64", {"mips64", "SCMP_ARCH_MIPS64"}},
  };
  SeccompHost h;
  if (auto it = kArches.find(u.machine); it != kArches.end()) {
    h.go_arch = it->second.first;
    h.native_arch = it->second.second;
  }
  std::sscanf(u.release, "%d.%d", &h.kernel_major, &h.kernel_minor);
  return h;
}

json seccomp_profile_to_oci(const json& docker_profile, const std::vector<std::string>& caps) {
  return seccomp_profile_to_oci(docker_profile, caps, SeccompHost::current());
}

json seccomp_profile_to_oci(const json& p, const std::vector<std::string>& caps, const SeccompHost& host) {
  try {
    return convert_profile(p, caps, host);
  } catch (const json::exception& e) {  // a field of the wrong type
    fail("Decoding seccomp profile failed: {}", e.what());
  }
}

json parse_seccomp_profile(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail("Decoding seccomp profile failed: {}", e.what());
  }
}

}  // namespace berth::engine
