#include "runtime/seccomp.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "runtime/unix_socket.h"

namespace berth::runtime {

namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

struct FlagName {
  const char* name;
  unsigned long bit;
};

// The flags a profile may name. NEW_LISTENER and TSYNC_ESRCH are implied by
// SCMP_ACT_NOTIFY rules and are listed only so errors can name them.
constexpr FlagName kFlags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
};
constexpr FlagName kImpliedFlags[] = {
    {"SECCOMP_FILTER_FLAG_NEW_LISTENER (for SCMP_ACT_NOTIFY)", SECCOMP_FILTER_FLAG_NEW_LISTENER},
    {"SECCOMP_FILTER_FLAG_TSYNC_ESRCH (for TSYNC with SCMP_ACT_NOTIFY)", SECCOMP_FILTER_FLAG_TSYNC_ESRCH},
};

struct OpName {
  const char* name;
  scmp_compare op;
};

constexpr OpName kOps[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

// Linux system calls take at most six arguments.
constexpr uint32_t kMaxArgs = 6;

uint32_t parse_action(const std::string& name, std::optional<uint32_t> errno_ret, std::string_view where) {
  // Like runc, ERRNO and TRACE without errnoRet return EPERM.
  auto ret = [&] {
    uint32_t v = errno_ret.value_or(EPERM);
    // The kernel keeps 16 bits of action data; refuse rather than truncate.
    if (v > 0xffff) fail("seccomp: {}: errnoRet {} out of range (at most 65535)", where, v);
    return v;
  };
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(ret());
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(ret());
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY") return SCMP_ACT_NOTIFY;
  fail("seccomp: {}: unknown action \"{}\"", where, name);
}

uint32_t parse_arch(const std::string& name, std::string_view where) {
  constexpr std::string_view kPrefix = "SCMP_ARCH_";
  uint32_t arch = 0;
  if (name.starts_with(kPrefix)) {
    std::string lower = name.substr(kPrefix.size());
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    arch = seccomp_arch_resolve_name(lower.c_str());
  }
  if (arch == 0) fail("seccomp: {}: unknown architecture \"{}\"", where, name);
  return arch;
}

// Conditions for one rule. *split is set when two conditions test the same
// argument (see add_rules).
std::vector<scmp_arg_cmp> parse_args(const std::vector<oci::SeccompArg>& args, std::string_view where, bool* split) {
  std::vector<scmp_arg_cmp> conds;
  bool seen[kMaxArgs] = {};
  *split = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const oci::SeccompArg& a = args[i];
    const OpName* op = nullptr;
    for (const OpName& o : kOps) {
      if (a.op == o.name) op = &o;
    }
    if (op == nullptr) fail("seccomp: {}: args[{}]: unknown operator \"{}\"", where, i, a.op);
    if (a.index >= kMaxArgs) fail("seccomp: {}: args[{}]: index {} out of range (0 to 5)", where, i, a.index);
    if (seen[a.index]) *split = true;
    seen[a.index] = true;
    // For SCMP_CMP_MASKED_EQ the spec's value is the mask and valueTwo the
    // datum, which is libseccomp's datum_a/datum_b order.
    conds.push_back(scmp_arg_cmp{a.index, op->op, a.value, a.value_two});
  }
  return conds;
}

void add_rules(scmp_filter_ctx ctx, uint32_t action, int nr, const std::vector<scmp_arg_cmp>& conds, bool split,
               std::string_view where, const std::string& name) {
  auto add = [&](unsigned count, const scmp_arg_cmp* c) {
    int rc = seccomp_rule_add_array(ctx, action, nr, count, c);
    if (rc < 0) fail("seccomp: {}: adding rule for {}: {}", where, name, strerror_text(-rc));
  };
  if (!split) {
    add(static_cast<unsigned>(conds.size()), conds.data());
    return;
  }
  // libseccomp refuses two conditions on one argument in a rule (EINVAL).
  // runc then adds one rule per condition, which ORs them instead of ANDing;
  // profiles in the wild depend on that, so do the same.
  for (const scmp_arg_cmp& c : conds) add(1, &c);
}

// seccomp(2) validates the flags before it reads the program, so a null
// program answers EFAULT for supported flags and EINVAL for the rest without
// installing anything (libseccomp probes the same way).
int probe_flags(unsigned long flags) {
  errno = 0;
  syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, nullptr);
  return errno;
}

void check_kernel_flags(unsigned long flags) {
  int err = probe_flags(flags);
  if (err == EFAULT) return;
  if (err == EINVAL) {
    auto check = [](const FlagName& f, unsigned long flags) {
      if (!(flags & f.bit)) return;
      // WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
      unsigned long with = f.bit == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
      if (probe_flags(f.bit | with) == EINVAL) fail("seccomp: flag {} is not supported by this kernel", f.name);
    };
    for (const FlagName& f : kImpliedFlags) check(f, flags);
    for (const FlagName& f : kFlags) check(f, flags);
  }
  fail("seccomp: kernel rejects filter flags {:#x}: {}", flags, strerror_text(err));
}

// Generates the BPF program now, in the runtime, so that load() in the
// container process needs neither libseccomp nor the allocator.
std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
  // libseccomp 2.5 can write the program only to a file descriptor.
  UniqueFd mem(memfd_create("berth-seccomp", MFD_CLOEXEC));
  if (!mem.valid()) fail_errno("seccomp: memfd_create");
  int rc = seccomp_export_bpf(ctx, mem.get());
  if (rc < 0) fail("seccomp: generating BPF program: {}", strerror_text(-rc));
  off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size < 0) fail_errno("seccomp: reading BPF program");
  if (size == 0 || size % sizeof(sock_filter) != 0) fail("seccomp: libseccomp produced a {}-byte BPF program", size);
  std::vector<sock_filter> prog(size / sizeof(sock_filter));
  char* p = reinterpret_cast<char*>(prog.data());
  for (off_t done = 0; done < size;) {
    ssize_t n = pread(mem.get(), p + done, size - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("seccomp: reading BPF program");
    if (n == 0) fail("seccomp: reading BPF program: unexpected end of file");
    done += n;
  }
  if (prog.size() > BPF_MAXINSNS) {
    fail("seccomp: filter needs {} BPF instructions, the kernel allows {}", prog.size(), BPF_MAXINSNS);
  }
  return prog;
}

}  // namespace

struct SeccompFilter::Impl {
  std::vector<sock_filter> prog;
  unsigned long flags = 0;  // SECCOMP_FILTER_FLAG_*
  bool notify = false;
  std::vector<std::string> skipped;
};

SeccompFilter::SeccompFilter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SeccompFilter::SeccompFilter(SeccompFilter&&) noexcept = default;
SeccompFilter& SeccompFilter::operator=(SeccompFilter&&) noexcept = default;
SeccompFilter::~SeccompFilter() = default;

namespace {

// Everything the generated program depends on, in one unambiguous string.
std::string cache_key(const oci::Seccomp& spec) {
  struct utsname u;
  uname(&u);
  const scmp_version* v = seccomp_version();
  std::string k = fmt::format("berth-seccomp-v1\nlibseccomp {}.{}.{}\nkernel {} {}\n", v->major, v->minor, v->micro,
                              u.release, u.machine);
  auto opt = [](const std::optional<uint32_t>& o) { return o ? std::to_string(*o) : std::string("-"); };
  k += fmt::format("default {} {}\n", spec.default_action, opt(spec.default_errno_ret));
  for (const auto& a : spec.architectures) k += "arch " + a + "\n";
  for (const auto& f : spec.flags) k += "flag " + f + "\n";
  for (const auto& sc : spec.syscalls) {
    k += fmt::format("rule {} {}", sc.action, opt(sc.errno_ret));
    for (const auto& a : sc.args) k += fmt::format(" arg{}:{}:{}:{}", a.index, a.op, a.value, a.value_two);
    for (const auto& n : sc.names) k += " " + n;  // names never contain spaces (checked by compile)
    k += "\n";
  }
  return k;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// File: <key>\0<flags> <notify> <insns>\n<skipped names, space separated>\n<program bytes>.
std::string encode_entry(const std::string& key, unsigned long flags, bool notify,
                         const std::vector<std::string>& skipped, const std::vector<sock_filter>& prog) {
  std::string out = key;
  out.push_back('\0');
  out += fmt::format("{} {} {}\n", flags, notify ? 1 : 0, prog.size());
  for (size_t i = 0; i < skipped.size(); ++i) out += (i ? " " : "") + skipped[i];
  out += "\n";
  out.append(reinterpret_cast<const char*>(prog.data()), prog.size() * sizeof(sock_filter));
  return out;
}

bool decode_entry(const std::string& data, const std::string& key, unsigned long* flags, bool* notify,
                  std::vector<std::string>* skipped, std::vector<sock_filter>* prog) {
  if (data.size() <= key.size() || data.compare(0, key.size(), key) != 0 || data[key.size()] != '\0') return false;
  size_t pos = key.size() + 1;
  size_t nl = data.find('\n', pos);
  if (nl == std::string::npos) return false;
  unsigned long long f = 0, n = 0, insns = 0;
  if (sscanf(data.substr(pos, nl - pos).c_str(), "%llu %llu %llu", &f, &n, &insns) != 3) return false;
  pos = nl + 1;
  nl = data.find('\n', pos);
  if (nl == std::string::npos) return false;
  skipped->clear();
  for (const auto& name : split(data.substr(pos, nl - pos), ' '))
    if (!name.empty()) skipped->push_back(name);
  pos = nl + 1;
  if (insns == 0 || insns > BPF_MAXINSNS || data.size() - pos != insns * sizeof(sock_filter)) return false;
  prog->resize(insns);
  memcpy(prog->data(), data.data() + pos, data.size() - pos);
  *flags = f;
  *notify = n != 0;
  return true;
}

}  // namespace

SeccompFilter SeccompFilter::compile(const oci::Seccomp& spec, const std::string& cache_dir) {
  std::string key, path;
  if (!cache_dir.empty()) {
    key = cache_key(spec);
    path = fmt::format("{}/{:016x}.bpf", cache_dir, fnv1a(key));
    std::string data;
    auto impl = std::make_unique<Impl>();
    if (read_file_if_exists(path, &data) &&
        decode_entry(data, key, &impl->flags, &impl->notify, &impl->skipped, &impl->prog))
      return SeccompFilter(std::move(impl));
  }
  SeccompFilter filter = compile_fresh(spec);
  if (!path.empty()) {
    try {
      mkdir_all(cache_dir, 0700);
      write_file_replace(path, encode_entry(key, filter.impl_->flags, filter.impl_->notify, filter.impl_->skipped,
                                           filter.impl_->prog),
                        0600);
    } catch (const Error&) {
      // A read-only or full runtime root only costs the next container the compile.
    }
  }
  return filter;
}

SeccompFilter SeccompFilter::compile_fresh(const oci::Seccomp& spec) {
  auto impl = std::make_unique<Impl>();

  uint32_t default_action = parse_action(spec.default_action, spec.default_errno_ret, "defaultAction");
  // Every syscall would wait for an agent, including the ones the runtime
  // itself makes before execve; runc refuses this too.
  if (default_action == SCMP_ACT_NOTIFY) fail("seccomp: defaultAction: SCMP_ACT_NOTIFY cannot be the default action");
  Ctx ctx(seccomp_init(default_action));
  if (!ctx) fail("seccomp: cannot create a filter with default action {}", spec.default_action);

  for (size_t i = 0; i < spec.architectures.size(); ++i) {
    std::string where = fmt::format("architectures[{}]", i);
    int rc = seccomp_arch_add(ctx.get(), parse_arch(spec.architectures[i], where));
    // EEXIST: the native architecture is always present, or a duplicate.
    if (rc == -EEXIST) continue;
    // One BPF program serves a single byte order.
    if (rc == -EDOM) {
      fail("seccomp: {}: {} has a different byte order than the native architecture", where, spec.architectures[i]);
    }
    if (rc < 0) fail("seccomp: {}: adding {}: {}", where, spec.architectures[i], strerror_text(-rc));
  }

  for (size_t i = 0; i < spec.flags.size(); ++i) {
    const FlagName* flag = nullptr;
    for (const FlagName& f : kFlags) {
      if (spec.flags[i] == f.name) flag = &f;
    }
    if (flag == nullptr) fail("seccomp: flags[{}]: unknown flag \"{}\"", i, spec.flags[i]);
    impl->flags |= flag->bit;
  }

  size_t rules = 0;
  for (size_t i = 0; i < spec.syscalls.size(); ++i) {
    const oci::SeccompSyscall& sc = spec.syscalls[i];
    std::string where = fmt::format("syscalls[{}]", i);
    uint32_t action = parse_action(sc.action, sc.errno_ret, where);
    bool split = false;
    std::vector<scmp_arg_cmp> conds = parse_args(sc.args, where, &split);
    if (action == SCMP_ACT_NOTIFY) impl->notify = true;
    for (size_t j = 0; j < sc.names.size(); ++j) {
      const std::string& name = sc.names[j];
      if (name.empty()) fail("seccomp: {}: names[{}]: empty syscall name", where, j);
      // The notify fd leaves the container process after load(); if write
      // waited for the agent that is to receive that fd, the container would
      // hang. runc refuses it for the same reason.
      if (action == SCMP_ACT_NOTIFY && name == "write") {
        fail("seccomp: {}: SCMP_ACT_NOTIFY cannot be used for the write syscall", where);
      }
      // libseccomp refuses rules that repeat the default action (EACCES).
      if (action == default_action) continue;
      // Unknown to libseccomp: most likely newer than it, so the kernel may
      // not have it either; runc skips these so newer profiles still work.
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        impl->skipped.push_back(name);
        continue;
      }
      add_rules(ctx.get(), action, nr, conds, split, where, name);
      ++rules;
    }
  }
  // A binary tree of syscall numbers beats a linear scan on long profiles;
  // libseccomp <= 2.5.4 generates a broken tree for an empty rule set, so
  // like runc only use it when there are enough rules.
  if (rules > 32) seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);

  if (impl->notify) {
    impl->flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    // With TSYNC a positive result could be the listener fd or the id of a
    // thread that failed to sync; the kernel insists on TSYNC_ESRCH.
    if (impl->flags & SECCOMP_FILTER_FLAG_TSYNC) impl->flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
  } else if (impl->flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
    fail("seccomp: flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs an SCMP_ACT_NOTIFY rule");
  }
  check_kernel_flags(impl->flags);

  impl->prog = export_bpf(ctx.get());
  return SeccompFilter(std::move(impl));
}

int SeccompFilter::load(int* notify_fd) const {
  if (notify_fd != nullptr) *notify_fd = -1;
  if (!impl_) return -EINVAL;
  sock_fprog prog{static_cast<unsigned short>(impl_->prog.size()), impl_->prog.data()};
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, impl_->flags, &prog);
  if (rc < 0) return -errno;
  if (impl_->notify) {
    if (notify_fd != nullptr) {
      *notify_fd = static_cast<int>(rc);
    } else {
      ::close(static_cast<int>(rc));
    }
    return 0;
  }
  // Without a listener, a positive result is the id of a thread TSYNC could
  // not synchronise; the filter is then not installed at all.
  return rc == 0 ? 0 : -ESRCH;
}

bool SeccompFilter::uses_notify() const { return impl_ && impl_->notify; }

const std::vector<std::string>& SeccompFilter::skipped_syscalls() const { return impl_->skipped; }

void send_seccomp_listener_fd(const std::string& listener_path, int notify_fd, const std::string& state_json) {
  if (listener_path.empty()) fail("seccomp: listenerPath is not set");
  if (state_json.empty()) fail("seccomp: listenerPath {}: empty container process state", listener_path);
  try {
    UniqueFd sock = connect_unix(listener_path);
    send_fd(sock.get(), notify_fd, state_json);
  } catch (const Error& e) {
    throw e.wrap(fmt::format("seccomp: listenerPath {}", listener_path));
  }
}

}  // namespace berth::runtime
