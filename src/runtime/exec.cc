// exec: a new process inside a running container.
//
// The runtime enters the container's pid (and time) namespace for its
// children only, then forks; the child joins the container's cgroup (the
// runtime writes it there), then the user namespace first and the rest after,
// and finally becomes the requested process via ProcessSetup, like the init.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "runtime/cgroups.h"
#include "runtime/clone.h"
#include "runtime/console.h"
#include "runtime/unix_socket.h"
#include "runtime/container.h"
#include "runtime/namespaces.h"
#include "runtime/process_setup.h"
#include "runtime/sync.h"

namespace berth::runtime {
namespace {

oci::Process build_process(const oci::Spec& spec, const ExecOptions& o) {
  if (o.process) return *o.process;
  if (o.args.empty()) fail("exec: no command given");
  oci::Process p = *spec.process;
  p.args = o.args;
  p.terminal = o.tty;
  p.console_size.reset();
  for (const auto& e : o.env) {
    auto eq = e.find('=');
    std::string key = e.substr(0, eq);
    std::erase_if(p.env, [&](const std::string& cur) { return cur.compare(0, key.size() + 1, key + "=") == 0; });
    p.env.push_back(e);
  }
  if (!o.cwd.empty()) p.cwd = o.cwd;
  if (!o.user.empty()) {
    auto parts = split(o.user, ':');
    unsigned long long uid, gid;
    if (parts.size() > 2 || !parse_uint64(parts[0], &uid) || (parts.size() == 2 && !parse_uint64(parts[1], &gid)))
      fail("exec: --user {:?}: expected uid[:gid] with numbers", o.user);
    p.user.uid = static_cast<uint32_t>(uid);
    if (parts.size() == 2) p.user.gid = static_cast<uint32_t>(gid);
  }
  for (auto g : o.additional_gids) p.user.additional_gids.push_back(g);
  if (!o.caps.empty()) {
    if (!p.capabilities) p.capabilities = oci::Capabilities{};
    auto& c = *p.capabilities;
    for (const auto& cap : o.caps)
      for (auto* set : {&c.bounding, &c.effective, &c.permitted, &c.ambient})
        if (std::find(set->begin(), set->end(), cap) == set->end()) set->push_back(cap);
  }
  if (o.no_new_privs) p.no_new_privileges = true;
  return p;
}

}  // namespace

int exec_in_container(const Context& ctx, const ExecOptions& o) {
  ContainerRecord rec = ctx.store.load(o.id);
  oci::Status st = container_status(ctx.store, rec);
  if (st == oci::Status::kStopped) fail("cannot exec in a stopped container");
  if (st == oci::Status::kPaused) fail("cannot exec in a paused container");
  oci::Spec spec = ctx.store.load_config(o.id);
  oci::Process proc = build_process(spec, o);
  if (proc.cwd.empty() || proc.cwd[0] != '/') fail("exec: cwd {:?} must be an absolute path", proc.cwd);
  ProcessSetup setup(proc, spec.linux.seccomp ? &*spec.linux.seccomp : nullptr, o.preserve_fds,
                     seccomp_cache_dir(ctx.store));
  bool pty_to_runtime = proc.terminal && o.console_socket.empty() && !o.detach;
  if (proc.terminal && o.console_socket.empty() && !pty_to_runtime)
    fail("cannot allocate tty if berth-runtime will detach without setting console socket");
  if (!proc.terminal && !o.console_socket.empty())
    fail("cannot use console socket if berth-runtime will not detach or allocate tty");
  UniqueFd console;
  if (!o.console_socket.empty()) {
    try {
      console = connect_unix(o.console_socket);
    } catch (const Error& e) {
      throw e.wrap("console socket " + o.console_socket);
    }
  }

  // Open every namespace of the init up front: it could exit at any moment.
  std::vector<std::pair<const NamespaceKind*, UniqueFd>> nsfds;
  for (const auto& kind : namespace_kinds()) {
    std::string path = fmt::format("/proc/{}/ns/{}", rec.pid, kind.proc_name);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) continue;  // kernel without this namespace kind
      fail_errno("exec: open {}", path);
    }
    // A namespace the container shares with us needs no joining; trying could
    // fail once we are in the container's user namespace (e.g. setns to the
    // host's cgroup namespace is EPERM there), and for user namespaces
    // joining our own is EINVAL.
    std::string self_path = fmt::format("/proc/self/ns/{}", kind.proc_name);
    struct stat a, b;
    if (::fstat(fd.get(), &a) == 0 && ::stat(self_path.c_str(), &b) == 0 && a.st_ino == b.st_ino &&
        a.st_dev == b.st_dev)
      continue;
    nsfds.emplace_back(&kind, std::move(fd));
  }
  if (!process_alive(rec.pid, rec.pid_start_time)) fail("cannot exec in a stopped container");
  for (auto& [kind, fd] : nsfds) {
    if (kind->clone_flag != CLONE_NEWPID && kind->clone_flag != CLONE_NEWTIME) continue;
    if (::setns(fd.get(), kind->clone_flag) != 0 && errno != EINVAL) fail_errno("exec: join {} namespace", kind->spec_name);
  }

  sigset_t all, old;
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigprocmask(SIG_BLOCK, &all, &old);

  auto [parent_sync, child_sync] = SyncPipe::make();
  std::unique_ptr<Cgroup> cg;
  std::vector<std::string> runtime_cgroups;
  if (!rec.cgroup_paths.empty()) {
    cg = Cgroup::from_paths(rec.cgroup_paths);
    runtime_cgroups = cg->enter_v1_self();  // the child starts in the container's cgroup
  }
  bool born_in_cgroup = false;
  pid_t pid = clone_process(0, cg ? cg->v2_dir() : "", &born_in_cgroup);
  int fork_errno = errno;
  if (pid != 0) Cgroup::leave_v1_self(runtime_cgroups);
  errno = fork_errno;
  if (pid < 0) fail_errno("exec: fork");
  if (pid == 0) {
    parent_sync.close();
    try {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      child_sync.expect("go", "waiting for the runtime");
      for (auto& [kind, fd] : nsfds) {
        if (kind->clone_flag == CLONE_NEWPID || kind->clone_flag == CLONE_NEWTIME) continue;
        // EINVAL: already in it (e.g. a namespace shared with the host).
        if (::setns(fd.get(), kind->clone_flag) != 0 && errno != EINVAL)
          fail_errno("join {} namespace", kind->spec_name);
      }
      // In the container's user namespace, become its root first (as the init
      // did): otherwise what we create, e.g. the pty, belongs to the host's
      // root, which the namespace cannot even name.
      for (auto& [kind, fd] : nsfds) {
        if (kind->clone_flag != CLONE_NEWUSER) continue;
        if (::syscall(SYS_setresgid, 0, 0, 0) != 0) fail_errno("become root in user namespace (gid)");
        if (::syscall(SYS_setresuid, 0, 0, 0) != 0) fail_errno("become root in user namespace (uid)");
      }
      if (proc.terminal) {
        Pty pty = open_pty();
        if (proc.console_size) set_window_size(pty.master.get(), *proc.console_size);
        // Our stdin is still the caller's: if it is a terminal, the program starts with its size.
        else if (!console.valid()) copy_window_size(0, pty.master.get());
        if (console.valid()) send_fd(console.get(), pty.master.get(), pty.slave_path);
        else send_fd(child_sync.fd(), pty.master.get(), pty.slave_path);
        int r = make_controlling_terminal(pty.slave.get());
        if (r < 0) fail("set controlling terminal: {}", strerror_text(-r));
      }
      console.reset();
      setup.apply_identity();
      setup.resolve_executable();
      // The runtime passes a notify fd on to the seccomp agent (listenerPath is a host path).
      if (setup.seccomp_notify_fd() >= 0) send_fd(child_sync.fd(), setup.seccomp_notify_fd(), "seccompFd");
      // Before "ready": once the runtime has it, it may exit (--detach), and
      // a death signal still armed then would kill us before execve.
      ::prctl(PR_SET_PDEATHSIG, 0);
      child_sync.send("ready");
      child_sync.close();
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      setup.exec();
    } catch (const std::exception& e) {
      child_sync.send_error(e.what());
      _exit(127);
    }
  }
  child_sync.close();
  console.reset();
  UniqueFd master;
  try {
    if (cg && !born_in_cgroup) cg->add_process(pid, /*v2_only=*/true);
    parent_sync.send("go");
    if (pty_to_runtime) master = parent_sync.receive_fd("allocating the terminal");
    if (setup.uses_seccomp_notify()) {
      UniqueFd notify = parent_sync.receive_fd("loading the seccomp filter");
      auto state = container_process_state(spec.oci_version, pid, spec.linux.seccomp->listener_metadata,
                                           oci::hook_state_json(oci_state(rec, st)));
      send_seccomp_listener_fd(spec.linux.seccomp->listener_path, notify.get(), state.dump());
    }
    parent_sync.expect("ready", "starting the exec process");
  } catch (const Error&) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw;
  }
  if (!o.pid_file.empty()) write_file_replace(o.pid_file, std::to_string(pid), 0644);
  if (o.detach) return 0;
  int code = wait_forwarding_signals(pid, master.get());
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

}  // namespace berth::runtime
