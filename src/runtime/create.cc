// create, start and run: building a container process and handing it over.
//
// The runtime clones the container process with its new namespaces, then
// drives it through a handshake (SyncPipe) so each step happens where the
// runtime spec puts it:
//
//   runtime                               container process
//   write uid/gid maps, set up cgroup --> "go"
//                                         join namespaces, hostname, mounts
//   prestart + createRuntime hooks   <--  "mounted"
//                                     --> "go2:<state json>"
//                                         createContainer hooks, pivot_root,
//                                         console, sysctl, masked paths,
//                                         user/caps/rlimits, find executable
//   save state, pid file, exit       <--  "ready"
//                                         block on exec.fifo until `start`,
//                                         startContainer hooks, execve
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <linux/keyctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "base/clock.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "runtime/cgroups.h"
#include "runtime/clone.h"
#include "runtime/console.h"
#include "runtime/unix_socket.h"
#include "runtime/container.h"
#include "runtime/hooks.h"
#include "runtime/namespaces.h"
#include "runtime/process_setup.h"
#include "runtime/rootfs.h"
#include "runtime/sync.h"

namespace berth::runtime {
namespace {

struct Bundle {
  std::string dir;  // absolute
  std::string config_text;
  oci::Spec spec;
  std::string rootfs;  // absolute
};

Bundle load_bundle(const CreateOptions& opts) {
  Bundle b;
  char real[PATH_MAX];
  if (!::realpath(opts.bundle.c_str(), real)) fail_errno("bundle {}", opts.bundle);
  b.dir = real;
  std::string config = opts.config_file[0] == '/' ? opts.config_file : b.dir + "/" + opts.config_file;
  if (!read_file_if_exists(config, &b.config_text)) fail("bundle {}: {} does not exist", b.dir, opts.config_file);
  b.spec = oci::parse_spec(b.config_text, config);
  if (!b.spec.process) fail("{}: process: required to create a container", config);
  std::string root = b.spec.root.path;
  if (root.empty()) fail("{}: root.path: must not be empty", config);
  std::string abs = root[0] == '/' ? root : b.dir + "/" + root;
  if (!::realpath(abs.c_str(), real)) fail_errno("rootfs {}", abs);
  struct stat st;
  if (::stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) fail("rootfs {} is not a directory", real);
  b.rootfs = real;
  // The spec: bind mount sources are absolute or relative to the bundle (runc joins them with it).
  for (auto& m : b.spec.mounts) {
    bool bind = m.type == "bind";
    for (const auto& o : m.options) bind = bind || o == "bind" || o == "rbind";
    if (bind && !m.source.empty() && m.source[0] != '/') m.source = b.dir + "/" + m.source;
  }
  return b;
}

void write_id_map(int pid, const char* file, const std::vector<oci::IdMapping>& maps) {
  std::string text;
  for (const auto& m : maps) text += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
  std::string path = fmt::format("/proc/{}/{}", pid, file);
  try {
    write_file(path, text);
  } catch (const Error& e) {
    throw e.wrap(fmt::format("write {} ({})", file, text.substr(0, text.size() - 1)));
  }
}

void validate_spec(const oci::Spec& spec, const NamespacePlan& ns) {
  bool userns = ns.has(CLONE_NEWUSER);
  if (ns.is_new(CLONE_NEWUSER) && (spec.linux.uid_mappings.empty() || spec.linux.gid_mappings.empty()))
    fail("linux.uidMappings/gidMappings: a new user namespace needs both mappings");
  if (!userns && (!spec.linux.uid_mappings.empty() || !spec.linux.gid_mappings.empty()))
    fail("linux.uidMappings: mappings given but no user namespace requested");
  for (const auto* maps : {&spec.linux.uid_mappings, &spec.linux.gid_mappings})
    for (const auto& m : *maps)
      if (m.size == 0) fail("linux.uidMappings/gidMappings: mapping of size 0 for container id {}", m.container_id);
  if (!ns.is_new(CLONE_NEWNS) && !ns.joins_kind(CLONE_NEWNS)) fail("linux.namespaces: a mount namespace is required");
  if (!spec.hostname.empty() && !ns.has(CLONE_NEWUTS))
    fail("hostname: unable to set hostname without a private UTS namespace");
  if (!spec.domainname.empty() && !ns.has(CLONE_NEWUTS))
    fail("domainname: unable to set domainname without a private UTS namespace");
  for (const auto& [key, value] : spec.linux.sysctl) {
    bool net = key.rfind("net.", 0) == 0;
    bool ipc = key.rfind("kernel.msg", 0) == 0 || key.rfind("kernel.sem", 0) == 0 || key.rfind("kernel.shm", 0) == 0 ||
               key.rfind("fs.mqueue.", 0) == 0;
    bool uts = key == "kernel.hostname" || key == "kernel.domainname";
    if (net && !ns.has(CLONE_NEWNET)) fail("linux.sysctl: {} requires a private network namespace", key);
    if (ipc && !ns.has(CLONE_NEWIPC)) fail("linux.sysctl: {} requires a private IPC namespace", key);
    if (uts && !ns.has(CLONE_NEWUTS)) fail("linux.sysctl: {} requires a private UTS namespace", key);
    if (!net && !ipc && !uts) fail("linux.sysctl: {} is not namespaced and would change the host", key);
  }
}

// The spec's resources plus device-cgroup access to the default devices, the
// pty devices and every device in linux.devices, as runc grants them: a spec
// that denies all devices must still get a working /dev.
oci::Resources effective_resources(const oci::Spec& spec) {
  oci::Resources res = spec.linux.resources.value_or(oci::Resources{});
  if (res.devices.empty()) return res;  // nothing restricted: the parent's policy applies
  auto allow = [&](const char* type, std::optional<int64_t> major, std::optional<int64_t> minor, const char* access) {
    res.devices.push_back(oci::DeviceCgroupRule{true, type, major, minor, access});
  };
  allow("c", std::nullopt, std::nullopt, "m");  // mknod of anything; access stays denied
  allow("b", std::nullopt, std::nullopt, "m");
  for (auto [major, minor] : {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}})
    allow("c", major, minor, "rwm");
  allow("c", 136, std::nullopt, "rwm");  // /dev/pts/*
  for (const auto& d : spec.linux.devices)
    res.devices.push_back(oci::DeviceCgroupRule{true, d.type == "b" ? "b" : "c", d.major, d.minor, "rwm"});
  return res;
}

// setns into every joined namespace but pid and time (the runtime joins those
// for its children); the user namespace first, so the rest are entered with
// its privileges.
void join_namespaces(const NamespacePlan& ns) {
  // Open them all first: once in another user namespace we may no longer be
  // allowed to open the others' /proc/<pid>/ns files.
  std::vector<std::pair<const NamespaceKind*, UniqueFd>> fds;
  for (const auto& [kind, path] : ns.joins) {
    if (kind->clone_flag == CLONE_NEWPID || kind->clone_flag == CLONE_NEWTIME) continue;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) fail_errno("open {} namespace {}", kind->spec_name, path);
    fds.emplace_back(kind, std::move(fd));
  }
  for (const auto& [kind, fd] : fds) {
    if (::setns(fd.get(), kind->clone_flag) != 0) fail_errno("join {} namespace {}", kind->spec_name, ns.join_path(kind->clone_flag));
    if (kind->clone_flag == CLONE_NEWUSER) {
      if (::syscall(SYS_setresgid, 0, 0, 0) != 0) fail_errno("become root in the joined user namespace (gid)");
      if (::syscall(SYS_setresuid, 0, 0, 0) != 0) fail_errno("become root in the joined user namespace (uid)");
    }
  }
}

// Joining a user namespace, or creating one while joining others, cannot be
// done by one clone(): namespaces must be joined before new ones are created
// so that the new ones are owned by the right user namespace. This
// intermediate process joins, unshares, then forks the container process as a
// sibling (CLONE_PARENT) and reports its pid to the runtime.
void intermediate_process(const NamespacePlan& ns, const oci::Linux& linux, SyncPipe& sync) {
  try {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    join_namespaces(ns);
    int unshare_flags = ns.new_flags & ~(CLONE_NEWCGROUP | CLONE_NEWPID | CLONE_NEWTIME);
    if (unshare_flags && ::unshare(unshare_flags) != 0) fail_errno("create namespaces");
    if (ns.is_new(CLONE_NEWPID) && ::unshare(CLONE_NEWPID) != 0) fail_errno("create pid namespace");
    if (ns.is_new(CLONE_NEWTIME)) {
      // Offsets can only be set while no process is in the namespace yet.
      if (::unshare(CLONE_NEWTIME) != 0) fail_errno("create time namespace");
      std::string offsets;
      for (const auto& [clock, secs] : linux.time_offsets_secs) {
        if (clock != "monotonic" && clock != "boottime") fail("linux.timeOffsets: unknown clock {:?}", clock);
        offsets += fmt::format("{} {} {}\n", clock, secs, linux.time_offsets_nanosecs.at(clock));
      }
      if (!offsets.empty()) write_file("/proc/self/timens_offsets", offsets);
    }
    long pid = ::syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid < 0) fail_errno("clone container process");
    if (pid == 0) return;  // the container process: back to the caller
    sync.send("pid:" + std::to_string(pid));
    _exit(0);
  } catch (const std::exception& e) {
    sync.send_error(e.what());
    _exit(1);
  }
}

bool needs_intermediate(const NamespacePlan& ns, const oci::Linux& linux) {
  if (ns.joins_kind(CLONE_NEWUSER)) return true;
  if (ns.is_new(CLONE_NEWTIME) && !linux.time_offsets_secs.empty()) return true;
  if (!ns.is_new(CLONE_NEWUSER)) return false;
  for (const auto& [kind, path] : ns.joins)
    if (kind->clone_flag != CLONE_NEWPID && kind->clone_flag != CLONE_NEWTIME) return true;
  return false;
}

// Everything the container process needs; built before clone so that all
// validation errors happen in the runtime.
struct InitContext {
  const Bundle* bundle;
  const CreateOptions* opts;
  const NamespacePlan* ns;
  ProcessSetup* setup;
  SyncPipe* sync;
  int fifo_fd;
  int console_fd;  // connected --console-socket, or -1
  bool pty_to_runtime;  // run -t without console socket: send master over sync
  bool namespaces_entered;  // an intermediate process already joined and created them
};

[[noreturn]] void container_init(InitContext& c) {
  const oci::Spec& spec = c.bundle->spec;
  std::string state_json;  // from the runtime, for the hooks we run
  try {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    c.sync->expect("go", "waiting for the runtime");
    if (c.ns->is_new(CLONE_NEWUSER)) {
      if (::syscall(SYS_setresgid, 0, 0, 0) != 0) fail_errno("become root in user namespace (gid)");
      if (::syscall(SYS_setresuid, 0, 0, 0) != 0) fail_errno("become root in user namespace (uid)");
    }
    if (!c.namespaces_entered) join_namespaces(*c.ns);
    if (!c.opts->no_new_keyring) {
      // A fresh session keyring, so the container cannot read the host's keys (runc does the same).
      std::string name = "_ses." + c.opts->id;
      if (::syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.c_str()) < 0 && errno != ENOSYS)
        fail_errno("join session keyring");
    }
    // After the runtime moved us into our cgroup, so the namespace is rooted there.
    if (c.ns->is_new(CLONE_NEWCGROUP) && ::unshare(CLONE_NEWCGROUP) != 0) fail_errno("create cgroup namespace");
    if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) != 0)
      fail_errno("set hostname {:?}", spec.hostname);
    if (!spec.domainname.empty() && ::setdomainname(spec.domainname.data(), spec.domainname.size()) != 0)
      fail_errno("set domainname {:?}", spec.domainname);

    Rootfs rootfs(spec, RootfsOptions{c.bundle->rootfs, c.ns->has(CLONE_NEWUSER), c.ns->is_new(CLONE_NEWCGROUP),
                                      c.opts->no_pivot});
    rootfs.prepare();
    c.sync->send("mounted");
    std::string go2 = c.sync->receive("waiting for createRuntime hooks");
    if (go2.rfind("go2:", 0) != 0) fail("protocol error: unexpected {:?}", go2);
    state_json = go2.substr(4);
    run_hooks(spec.hooks.create_container, state_json, "createContainer");
    rootfs.pivot();

    if (c.setup->process().terminal) {
      Pty pty = open_pty();
      if (spec.process->console_size) set_window_size(pty.master.get(), *spec.process->console_size);
      if (c.console_fd >= 0) send_fd(c.console_fd, pty.master.get(), pty.slave_path);
      else if (c.pty_to_runtime) send_fd(c.sync->fd(), pty.master.get(), pty.slave_path);
      rootfs.mount_console(pty.slave_path);
      int r = make_controlling_terminal(pty.slave.get());
      if (r < 0) fail("set controlling terminal: {}", strerror_text(-r));
    }
    if (c.console_fd >= 0) ::close(c.console_fd);
    apply_sysctls(spec.linux.sysctl);
    rootfs.finalize();
    c.setup->apply_identity();
    c.setup->resolve_executable();
    // The runtime passes the notify fd on to the agent: listenerPath is a
    // host path, which no longer resolves here after pivot_root.
    if (c.setup->seccomp_notify_fd() >= 0) send_fd(c.sync->fd(), c.setup->seccomp_notify_fd(), "seccompFd");
    // Until execve we are the runtime, with the caller's environment and
    // descriptors: while we wait for `start`, processes exec'd into the
    // container must not read /proc/1/environ, /proc/1/fd or /proc/1/exe
    // (runc's init is non-dumpable too). execve makes the program dumpable
    // again. Not earlier: in a user namespace our /proc files would then
    // belong to the host's root and oom_score_adj could not be written.
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail_errno("make the init non-dumpable");
    // Before "ready": once the runtime has it, it exits, and a death signal
    // still armed then would kill us. (If it fails after "ready", it kills us.)
    ::prctl(PR_SET_PDEATHSIG, 0);
    c.sync->send("ready");
  } catch (const std::exception& e) {
    c.sync->send_error(e.what());
    _exit(1);
  }
  c.sync->close();
  UniqueFd w;
  try {
    // Blocks until `start` opens the other end.
    std::string self_fd = "/proc/self/fd/" + std::to_string(c.fifo_fd);
    w = UniqueFd(::open(self_fd.c_str(), O_WRONLY | O_CLOEXEC));
    if (!w.valid()) fail_errno("open exec fifo");
    if (::write(w.get(), "0", 1) != 1) fail_errno("write exec fifo");
    // The write end stays open until execve closes it (O_CLOEXEC): `start`
    // waits for that, so poststart hooks run after the program started, and
    // it reports what we write here if we fail first (startContainer hooks).
    ::close(c.fifo_fd);
    if (!spec.hooks.start_container.empty()) {
      auto st = nlohmann::json::parse(state_json);
      // The user process has not been executed yet: "created", as runc reports it.
      st["status"] = oci::status_name(oci::Status::kCreated);
      run_hooks(spec.hooks.start_container, st.dump(), "startContainer");
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    c.setup->exec();
  } catch (const std::exception& e) {
    if (w.valid()) {
      std::string msg = e.what();
      if (!write_all(w.get(), msg.data(), msg.size())) dprintf(2, "berth-runtime: %s\n", e.what());
    } else {
      dprintf(2, "berth-runtime: %s\n", e.what());
    }
    _exit(127);
  }
}

void cleanup_failed(const Context& ctx, const std::string& id, int pid, Cgroup* cg) {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (cg) {
    try {
      cg->destroy();
    } catch (const Error& e) {
      ctx.log->warn("cleanup: {}", e.what());
    }
  }
  try {
    ctx.store.remove(id);
  } catch (const Error& e) {
    ctx.log->warn("cleanup: {}", e.what());
  }
}

struct Created {
  ContainerRecord record;
  UniqueFd pty_master;  // run -t without --console-socket
};

Created create_impl(const Context& ctx, const CreateOptions& opts, bool for_run) {
  validate_container_id(opts.id);
  Bundle bundle = load_bundle(opts);
  const oci::Spec& spec = bundle.spec;
  NamespacePlan ns = plan_namespaces(spec.linux.namespaces);
  validate_spec(spec, ns);
  oci::Process proc = *spec.process;
  if (opts.listen_fds > 0) {
    // Socket activation passes through, as runc does: the fds follow stdio and the init is pid 1.
    proc.env.push_back("LISTEN_FDS=" + std::to_string(opts.listen_fds));
    proc.env.push_back("LISTEN_PID=1");
  }
  ProcessSetup setup(proc, spec.linux.seccomp ? &*spec.linux.seccomp : nullptr, opts.preserve_fds + opts.listen_fds,
                     seccomp_cache_dir(ctx.store));
  bool terminal = spec.process->terminal;
  bool pty_to_runtime = terminal && opts.console_socket.empty() && for_run && !opts.detach;
  if (terminal && opts.console_socket.empty() && !pty_to_runtime)
    fail("cannot allocate tty if berth-runtime will detach without setting console socket");
  if (!terminal && !opts.console_socket.empty())
    fail("cannot use console socket if berth-runtime will not detach or allocate tty");
  UniqueFd console;
  if (!opts.console_socket.empty()) {
    try {
      console = connect_unix(opts.console_socket);
    } catch (const Error& e) {
      throw e.wrap("console socket " + opts.console_socket);
    }
  }

  ctx.store.create_dir(opts.id);
  int pid = -1;
  std::unique_ptr<Cgroup> cg;
  try {
    std::string fifo = ctx.store.fifo_path(opts.id);
    if (::mkfifo(fifo.c_str(), 0622) != 0) fail_errno("create exec fifo {}", fifo);
    // Writable by the container's (possibly non-root) user despite our umask.
    if (::chmod(fifo.c_str(), 0622) != 0) fail_errno("chmod exec fifo {}", fifo);
    UniqueFd fifo_fd(::open(fifo.c_str(), O_PATH | O_CLOEXEC));
    if (!fifo_fd.valid()) fail_errno("open exec fifo {}", fifo);
    cg = Cgroup::open(spec.linux.cgroups_path, opts.id, ctx.systemd_cgroup);

    for (int flag : {CLONE_NEWPID, CLONE_NEWTIME}) {
      std::string path = ns.join_path(flag);
      if (path.empty()) continue;
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid() || ::setns(fd.get(), flag) != 0) fail_errno("join namespace {}", path);
    }
    auto [parent_sync, child_sync] = SyncPipe::make();
    // The cgroup namespace is created by the child once it is in its cgroup.
    bool intermediate = needs_intermediate(ns, spec.linux);
    int clone_flags = intermediate ? 0 : ns.new_flags & ~CLONE_NEWCGROUP;
    // The child starts in its cgroup: cheaper than moving it (see enter_v1_self).
    cg->create();
    std::vector<std::string> runtime_cgroups = cg->enter_v1_self();
    bool born_in_cgroup = false;
    pid = clone_process(clone_flags, cg->v2_dir(), &born_in_cgroup);
    int clone_errno = errno;
    if (pid != 0) Cgroup::leave_v1_self(runtime_cgroups);
    errno = clone_errno;
    if (pid < 0) fail_errno("clone container process");
    if (pid == 0) {
      parent_sync.close();
      if (intermediate) intermediate_process(ns, spec.linux, child_sync);  // returns in the container process only
      InitContext ic{&bundle, &opts, &ns, &setup, &child_sync, fifo_fd.get(), console.get(), pty_to_runtime,
                     intermediate};
      container_init(ic);
    }
    child_sync.close();
    console.reset();
    if (intermediate) {
      int status;
      std::string msg;
      try {
        msg = parent_sync.receive("entering namespaces");
      } catch (const Error&) {
        ::waitpid(pid, &status, 0);
        pid = -1;
        throw;
      }
      ::waitpid(pid, &status, 0);
      long long init_pid = 0;
      if (msg.rfind("pid:", 0) != 0 || !parse_int64(msg.substr(4), &init_pid) || init_pid <= 0) {
        pid = -1;
        fail("protocol error: unexpected {:?} from the intermediate process", msg);
      }
      pid = static_cast<int>(init_pid);
    }

    if (ns.is_new(CLONE_NEWUSER)) {
      write_id_map(pid, "uid_map", spec.linux.uid_mappings);
      write_id_map(pid, "gid_map", spec.linux.gid_mappings);
    }
    if (!born_in_cgroup) cg->add_process(pid, /*v2_only=*/true);
    // Limits only now that we left: a pids limit of 1 must not count the runtime.
    cg->apply(effective_resources(spec));
    parent_sync.send("go");
    parent_sync.expect("mounted", "setting up mounts");

    ContainerRecord rec;
    rec.id = opts.id;
    rec.pid = pid;
    rec.pid_start_time = process_start_time(pid);
    rec.bundle = bundle.dir;
    rec.rootfs = bundle.rootfs;
    rec.created = now_rfc3339_nano();
    rec.oci_version = spec.oci_version;
    rec.annotations = spec.annotations;
    rec.cgroup_paths = cg->paths();
    rec.new_pid_namespace = ns.is_new(CLONE_NEWPID);
    std::string creating = oci::hook_state_json(oci_state(rec, oci::Status::kCreating)).dump();
    run_hooks(spec.hooks.prestart, creating, "prestart");
    run_hooks(spec.hooks.create_runtime, creating, "createRuntime");
    parent_sync.send("go2:" + creating);
    Created out;
    if (pty_to_runtime) out.pty_master = parent_sync.receive_fd("allocating the terminal");
    if (setup.uses_seccomp_notify()) {
      UniqueFd notify = parent_sync.receive_fd("loading the seccomp filter");
      auto state = container_process_state(spec.oci_version, pid, spec.linux.seccomp->listener_metadata,
                                           nlohmann::json::parse(creating));
      send_seccomp_listener_fd(spec.linux.seccomp->listener_path, notify.get(), state.dump());
    }
    parent_sync.expect("ready", "starting the container process");

    ctx.store.save_config(opts.id, bundle.config_text);
    ctx.store.save(rec);
    if (!opts.pid_file.empty()) write_file_replace(opts.pid_file, std::to_string(pid), 0644);
    out.record = std::move(rec);
    return out;
  } catch (const Error&) {
    cleanup_failed(ctx, opts.id, pid, cg.get());
    throw;
  }
}

// Removes a stopped container: poststop hooks, cgroup, state directory.
void destroy_stopped(const Context& ctx, const ContainerRecord& rec) {
  oci::Spec spec;
  bool have_spec = true;
  try {
    spec = ctx.store.load_config(rec.id);
  } catch (const Error& e) {
    have_spec = false;
    ctx.log->warn("delete {}: {}", rec.id, e.what());
  }
  if (!rec.cgroup_paths.empty()) Cgroup::from_paths(rec.cgroup_paths)->destroy();
  ctx.store.remove(rec.id);
  if (have_spec) {
    std::string st = oci::hook_state_json(oci_state(rec, oci::Status::kStopped)).dump();
    for (const auto& h : spec.hooks.poststop) {
      try {
        run_hook(h, st, "poststop");
      } catch (const Error& e) {
        ctx.log->warn("{}", e.what());
      }
    }
  }
}

}  // namespace

void create_container(const Context& ctx, const CreateOptions& opts) { create_impl(ctx, opts, false); }

void start_container(const Context& ctx, const std::string& id) {
  ContainerRecord rec = ctx.store.load(id);
  switch (container_status(ctx.store, rec)) {
    case oci::Status::kCreated: break;
    case oci::Status::kStopped: fail("cannot start a container that has stopped");
    default: fail("cannot start an already running container");
  }
  std::string fifo = ctx.store.fifo_path(id);
  UniqueFd fd(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) fail_errno("open exec fifo {}", fifo);
  while (true) {
    struct pollfd p = {fd.get(), POLLIN, 0};
    int r = ::poll(&p, 1, 50);
    if (r > 0 && (p.revents & POLLIN)) {
      char c;
      if (::read(fd.get(), &c, 1) == 1) break;
    }
    if (!process_alive(rec.pid, rec.pid_start_time)) fail("container process is already dead");
  }
  ::unlink(fifo.c_str());
  // The init keeps its end open until its execve: EOF means the program runs;
  // anything written first is why it did not (e.g. a startContainer hook failed).
  std::string failure;
  while (true) {
    struct pollfd p = {fd.get(), POLLIN, 0};
    int r = ::poll(&p, 1, 50);
    if (r < 0 && errno != EINTR) fail_errno("poll exec fifo");
    if (r > 0) {
      char buf[4096];
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        failure.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) break;
      if (errno != EAGAIN && errno != EINTR) fail_errno("read exec fifo");
      continue;
    }
    if (!process_alive(rec.pid, rec.pid_start_time)) break;
  }
  if (!failure.empty()) fail("{}", failure);
  oci::Spec spec = ctx.store.load_config(id);
  std::string st = oci::hook_state_json(oci_state(rec, oci::Status::kRunning)).dump();
  for (const auto& h : spec.hooks.poststart) {
    try {
      run_hook(h, st, "poststart");
    } catch (const Error& e) {
      ctx.log->warn("{}", e.what());  // the spec: a failing poststart hook only warns
    }
  }
}

int run_container(const Context& ctx, const CreateOptions& opts) {
  // Signals meant for the container must not kill us before we can forward them.
  sigset_t all, old;
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigprocmask(SIG_BLOCK, &all, &old);
  Created c = create_impl(ctx, opts, true);
  // Our terminal's size before the program starts, not once it already ran.
  if (c.pty_master.valid()) copy_window_size(0, c.pty_master.get());
  try {
    start_container(ctx, opts.id);
  } catch (const Error&) {
    delete_container(ctx, opts.id, true);
    throw;
  }
  if (opts.detach) return 0;
  int code = wait_forwarding_signals(c.record.pid, c.pty_master.get());
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (!opts.keep) {
    // Our own container: kill stragglers (shared pid namespace) and clean up.
    delete_container(ctx, opts.id, true);
  }
  return code;
}

int wait_forwarding_signals(int pid, int pty_master) {
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  UniqueFd sfd(::signalfd(-1, &all, SFD_CLOEXEC));
  if (!sfd.valid()) fail_errno("signalfd");
  std::optional<RawTerminal> raw;
  if (pty_master >= 0) {
    raw.emplace();
    if (raw->active()) copy_window_size(0, pty_master);
  }
  bool stdin_open = pty_master >= 0;
  bool pty_open = pty_master >= 0;
  char buf[8192];
  while (true) {
    int status;
    int r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      // Drain what the process wrote before exiting.
      while (pty_open) {
        struct pollfd p = {pty_master, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) break;
        ssize_t n = ::read(pty_master, buf, sizeof buf);
        if (n <= 0) break;
        write_all(1, buf, static_cast<size_t>(n));
      }
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return 255;
    }
    if (r < 0 && errno == ECHILD) return 255;
    struct pollfd fds[3] = {{sfd.get(), POLLIN, 0}, {pty_open ? pty_master : -1, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0 && errno != EINTR) fail_errno("poll");
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (::read(sfd.get(), &si, sizeof si) == sizeof si) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGWINCH) {
          if (pty_master >= 0) copy_window_size(0, pty_master);
        } else if (sig != SIGCHLD) {
          ::kill(pid, sig);
        }
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(pty_master, buf, sizeof buf);
      if (n <= 0) pty_open = false;  // EIO: all slaves closed
      else write_all(1, buf, static_cast<size_t>(n));
    }
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;
        char eot = 4;  // end of input, the terminal way
        write_all(pty_master, &eot, 1);
      } else {
        write_all(pty_master, buf, static_cast<size_t>(n));
      }
    }
  }
}

void delete_container(const Context& ctx, const std::string& id, bool force) {
  ContainerRecord rec = ctx.store.load(id);
  oci::Status st = container_status(ctx.store, rec);
  if (st == oci::Status::kRunning || st == oci::Status::kPaused) {
    if (!force) fail("cannot delete container {} that is not stopped: {}", id, oci::status_name(st));
  }
  if (st != oci::Status::kStopped) {
    std::unique_ptr<Cgroup> cg;
    if (!rec.cgroup_paths.empty()) cg = Cgroup::from_paths(rec.cgroup_paths);
    ::kill(rec.pid, SIGKILL);
    if (cg) {
      for (int p : cg->pids()) ::kill(p, SIGKILL);
      if (st == oci::Status::kPaused) cg->thaw();
    }
    // Wait for the init to go: pidfd works for processes that are not our children.
    UniqueFd pfd(static_cast<int>(::syscall(SYS_pidfd_open, rec.pid, 0)));
    if (pfd.valid()) {
      struct pollfd p = {pfd.get(), POLLIN, 0};
      ::poll(&p, 1, 10000);
    }
    ::waitpid(rec.pid, nullptr, WNOHANG);
  } else if (!rec.cgroup_paths.empty()) {
    // The init is gone, but with a shared pid namespace processes it started
    // can still be in the cgroup, which cannot be removed while they are:
    // kill them (runc's destroy does the same).
    try {
      auto cg = Cgroup::from_paths(rec.cgroup_paths);
      auto left = cg->pids();
      for (int p : left) ::kill(p, SIGKILL);
      if (!left.empty() && cg->frozen()) cg->thaw();
    } catch (const Error& e) {
      ctx.log->warn("delete {}: {}", id, e.what());
    }
  }
  destroy_stopped(ctx, rec);
}

}  // namespace berth::runtime
