#include "runtime/process_setup.h"

#include <fcntl.h>
#include <climits>
#include <grp.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::runtime {
namespace {

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env)
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=')
      return e.substr(key.size() + 1);
  return "";
}

bool has_env(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) return true;
  return false;
}

bool is_executable_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// HOME from the container's /etc/passwd, as runc sets it when missing.
std::string home_for(uint32_t uid) {
  std::string passwd;
  if (!read_file_if_exists("/etc/passwd", &passwd)) return "/";
  for (const auto& line : split(passwd, '\n')) {
    auto f = split(line, ':');
    unsigned long long id;
    if (f.size() >= 6 && parse_uint64(f[2], &id) && id == uid) return f[5];
  }
  return "/";
}

}  // namespace

ProcessSetup::ProcessSetup(oci::Process proc, const oci::Seccomp* seccomp, int preserve_fds,
                           const std::string& seccomp_cache_dir)
    : proc_(std::move(proc)), preserve_fds_(preserve_fds) {
  if (proc_.args.empty()) fail("process.args: must not be empty");
  rlimits_ = parse_rlimits(proc_.rlimits);
  if (proc_.capabilities) caps_ = parse_capabilities(*proc_.capabilities);
  if (seccomp) seccomp_ = SeccompFilter::compile(*seccomp, seccomp_cache_dir);  // errors say "seccomp: ..."
}

void ProcessSetup::load_seccomp() {
  if (!seccomp_ || seccomp_loaded_) return;
  int r = seccomp_->load(&notify_fd_);
  if (r < 0) fail("load seccomp filter: {}", strerror_text(-r));
  seccomp_loaded_ = true;
}

void ProcessSetup::apply_identity() {
  int r = apply_rlimits(rlimits_);
  if (r < 0) fail("set rlimits: {}", strerror_text(-r));
  if (proc_.oom_score_adj) {
    try {
      write_file("/proc/self/oom_score_adj", std::to_string(*proc_.oom_score_adj));
    } catch (const Error& e) {
      throw e.wrap("set oom_score_adj");
    }
  }
  if (!proc_.no_new_privileges) load_seccomp();

  if (caps_ && (r = drop_bounding(caps_->bounding)) < 0) fail("drop bounding capabilities: {}", strerror_text(-r));
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail_errno("keep capabilities");
  const auto& u = proc_.user;
  std::vector<gid_t> groups(u.additional_gids.begin(), u.additional_gids.end());
  // setgroups is denied in user namespaces with setgroups=deny; an empty list there is fine to skip.
  if (::setgroups(groups.size(), groups.data()) != 0 && !(errno == EPERM && groups.empty()))
    fail_errno("setgroups");
  if (::syscall(SYS_setresgid, u.gid, u.gid, u.gid) != 0) fail_errno("setgid {}", u.gid);
  if (::syscall(SYS_setresuid, u.uid, u.uid, u.uid) != 0) fail_errno("setuid {}", u.uid);
  if (caps_ && (r = apply_capabilities(*caps_)) < 0) fail("set capabilities: {}", strerror_text(-r));
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail_errno("reset keep capabilities");
  if (u.umask) ::umask(*u.umask);
  else ::umask(022);

  if (::chdir(proc_.cwd.c_str()) != 0) fail_errno("chdir to cwd {:?} set in config.json", proc_.cwd);
  // CVE-2024-21626: a cwd such as /proc/self/fd/N naming a directory fd we
  // inherited would leave the process outside the container's root. getcwd
  // reports such a directory as unreachable (ENOENT).
  char wd[PATH_MAX];
  if (!::getcwd(wd, sizeof wd)) {
    if (errno == ENOENT) fail("cwd {:?} is outside the container's root (possible container breakout)", proc_.cwd);
    fail_errno("verify cwd {:?}", proc_.cwd);
  }
  if (wd[0] != '/') fail("cwd {:?} is outside the container's root (possible container breakout)", proc_.cwd);
  if (!has_env(proc_.env, "HOME")) proc_.env.push_back("HOME=" + home_for(u.uid));
  if (proc_.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail_errno("set no_new_privs");
  // The notify fd must go to the seccomp agent before `start`: load such a
  // profile now (after no_new_privs) rather than just before execve.
  if (uses_seccomp_notify()) load_seccomp();
}

void ProcessSetup::resolve_executable() {
  const std::string& arg0 = proc_.args[0];
  if (arg0.find('/') != std::string::npos) {
    if (!is_executable_file(arg0)) fail("exec: {:?}: {}", arg0, strerror_text(errno ? errno : EACCES));
    executable_ = arg0;
    return;
  }
  std::string path = env_value(proc_.env, "PATH");
  if (!has_env(proc_.env, "PATH")) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& dir : split(path, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + arg0;
    if (is_executable_file(candidate)) {
      executable_ = candidate;
      return;
    }
  }
  fail("exec: {:?}: executable file not found in $PATH", arg0);
}

void ProcessSetup::exec() {
  if (executable_.empty()) resolve_executable();
  load_seccomp();
  // Everything the runtime opened is O_CLOEXEC; this also catches anything
  // inherited from our caller (beyond the fds it asked us to preserve).
  ::syscall(SYS_close_range, 3 + preserve_fds_, ~0U, CLOSE_RANGE_CLOEXEC);
  std::vector<char*> argv, envp;
  for (auto& a : proc_.args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : proc_.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  ::execve(executable_.c_str(), argv.data(), envp.data());
  fail_errno("exec {:?}", proc_.args[0]);
}

}  // namespace berth::runtime
