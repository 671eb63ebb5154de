#include "runtime/rootfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "runtime/mount_options.h"
#include "runtime/mountinfo.h"

namespace berth::runtime {
namespace {

struct DefaultDevice {
  const char* path;
  unsigned major, minor;
};

// The devices every container gets (runtime-spec "Default Devices").
constexpr DefaultDevice kDefaultDevices[] = {
    {"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Creates an empty file at path inside root (for binding a file onto it).
UniqueFd create_file_in_root(int root_fd, const std::string& path) { return create_in_root(root_fd, path, true); }

unsigned long long attrs_from_flags(unsigned long flags) {
  unsigned long long a = 0;
  if (flags & MS_RDONLY) a |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID) a |= MOUNT_ATTR_NOSUID;
  if (flags & MS_NODEV) a |= MOUNT_ATTR_NODEV;
  if (flags & MS_NOEXEC) a |= MOUNT_ATTR_NOEXEC;
  if (flags & MS_NODIRATIME) a |= MOUNT_ATTR_NODIRATIME;
  if (flags & MS_NOSYMFOLLOW) a |= MOUNT_ATTR_NOSYMFOLLOW;
  if (flags & MS_NOATIME) a |= MOUNT_ATTR_NOATIME;
  else if (flags & MS_STRICTATIME) a |= MOUNT_ATTR_STRICTATIME;
  return a;
}

}  // namespace

void Rootfs::prepare() {
  unsigned long prop = MS_SLAVE | MS_REC;  // runc's default: host mounts still propagate in, nothing leaks out
  if (!spec_.linux.rootfs_propagation.empty()) {
    prop = propagation_flags(spec_.linux.rootfs_propagation);
    if (!prop) fail("linux.rootfsPropagation: unknown value {:?}", spec_.linux.rootfs_propagation);
  }
  if (::mount(nullptr, "/", nullptr, prop, nullptr) != 0) fail_errno("make / {}", spec_.linux.rootfs_propagation);
  // The mount holding the rootfs must not be shared: the bind below would
  // then propagate to its peers, and pivot_root refuses a shared parent or
  // new root (runc: rootfsParentMountPrivate). EINVAL: not a mount point.
  for (std::string p = opts_.rootfs;;) {
    if (::mount(nullptr, p.c_str(), nullptr, MS_PRIVATE, nullptr) == 0) break;
    if (errno != EINVAL || p == "/") fail_errno("make the mount holding {} private", opts_.rootfs);
    auto slash = p.rfind('/');
    p = slash == 0 ? "/" : p.substr(0, slash);
  }

  if (::mount(opts_.rootfs.c_str(), opts_.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    fail_errno("bind rootfs {} onto itself", opts_.rootfs);
  root_fd_ = UniqueFd(::open(opts_.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd_.valid()) fail_errno("open rootfs {}", opts_.rootfs);

  for (const auto& m : spec_.mounts) {
    try {
      mount_entry(m);
    } catch (const Error& e) {
      throw e.wrap(fmt::format("mount {} on {}", m.source.empty() ? m.type : m.source, m.destination));
    }
  }
  if (!dev_is_bound_from_host()) {
    create_devices();
    make_dev_symlinks();
  }
}

bool Rootfs::dev_is_bound_from_host() const {
  for (const auto& m : spec_.mounts)
    if (clean_path(m.destination) == "/dev" && parse_mount_options(m.options).bind) return true;
  return false;
}

void Rootfs::bind_into(const std::string& source, int dest_fd, bool recursive, unsigned long flags,
                       unsigned long long attr_clr, unsigned long propagation, const std::string& shown_dest) {
  unsigned int tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  UniqueFd tree(static_cast<int>(::open_tree(AT_FDCWD, source.c_str(), tree_flags)));
  if (!tree.valid()) fail_errno("open_tree {}", source);
  struct mount_attr attr {};
  attr.attr_set = attrs_from_flags(flags);
  attr.attr_clr = attr_clr;
  if (attr.attr_set & (MOUNT_ATTR_NOATIME | MOUNT_ATTR_STRICTATIME)) attr.attr_clr |= MOUNT_ATTR__ATIME;
  // Read-only etc. apply to the top mount only unless the option was r*-prefixed (runc semantics).
  if ((attr.attr_set || attr.attr_clr) &&
      ::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
    fail_errno("set mount attributes on {}", shown_dest);
  if (propagation) {
    struct mount_attr p {};
    p.propagation = propagation & ~MS_REC;
    if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | ((propagation & MS_REC) ? AT_RECURSIVE : 0), &p, sizeof p) != 0)
      fail_errno("set propagation on {}", shown_dest);
  }
  if (::move_mount(tree.get(), "", dest_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    fail_errno("attach bind mount at {}", shown_dest);
}

void Rootfs::mount_entry(const oci::Mount& m) {
  if (m.destination.empty() || m.destination[0] != '/')
    fail("destination must be an absolute path");
  MountOptions o = parse_mount_options(m.options);
  bool bind = o.bind || m.type == "bind";
  std::string dest = clean_path(m.destination);

  if (bind) {
    if (m.source.empty()) fail("bind mount needs a source");
    struct stat st;
    if (::stat(m.source.c_str(), &st) != 0) fail_errno("stat source {}", m.source);
    UniqueFd dest_fd = S_ISDIR(st.st_mode) ? mkdir_all_in_root(root_fd_.get(), dest)
                                           : create_file_in_root(root_fd_.get(), dest);
    bind_into(m.source, dest_fd.get(), o.recursive, o.flags, 0, o.propagation, dest);
    apply_recursive_attributes(dest, o);
    return;
  }

  UniqueFd dest_fd = mkdir_all_in_root(root_fd_.get(), dest);
  if (m.type == "cgroup" || m.type == "cgroup2") {
    mount_cgroup(m, dest_fd.get());
    return;
  }
  std::string target = fd_path(dest_fd.get());
  unsigned long flags = o.flags & ~MS_REMOUNT;
  const char* data = o.data.empty() ? nullptr : o.data.c_str();
  if (::mount(m.source.c_str(), target.c_str(), m.type.c_str(), flags, data) != 0) {
    // mqueue/sysfs cannot be mounted in some user-namespace set-ups; runc binds
    // the host's instead, which is what a rootless user expects.
    if ((errno == EPERM || errno == EBUSY) && (m.type == "sysfs" || m.type == "mqueue")) {
      std::string host = m.type == "sysfs" ? "/sys" : "/dev/mqueue";
      bind_into(host, dest_fd.get(), true, flags, 0, 0, dest);
      return;
    }
    fail_errno("mount {}", m.type);
  }
  if (o.propagation) {
    UniqueFd top = open_in_root(root_fd_.get(), dest, O_PATH);
    if (::mount(nullptr, fd_path(top.get()).c_str(), nullptr, o.propagation, nullptr) != 0)
      fail_errno("set propagation");
  }
  apply_recursive_attributes(dest, o);
}

// "rro", "rnoatime", ...: set and clear in one recursive mount_setattr, as
// the kernel needs both for access-time modes (see mount_options.h).
void Rootfs::apply_recursive_attributes(const std::string& dest, const MountOptions& o) {
  if (!o.attr_set && !o.attr_clr) return;
  UniqueFd top = open_in_root(root_fd_.get(), dest, O_PATH);
  struct mount_attr attr {};
  attr.attr_set = o.attr_set;
  attr.attr_clr = o.attr_clr;
  if (::mount_setattr(top.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
    fail_errno("set recursive attributes");
}

// Without a cgroup namespace the container sees its own cgroup directories
// bound at the usual places (as runc does); with one, real cgroup
// filesystems are mounted and the namespace roots them.
void Rootfs::mount_cgroup(const oci::Mount& m, int dest_fd) {
  MountOptions o = parse_mount_options(m.options);
  unsigned long flags = (o.flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  bool ro = o.flags & MS_RDONLY;
  std::string dest = clean_path(m.destination);
  auto mounts = read_mountinfo();
  std::string self_cgroup = read_file("/proc/self/cgroup");

  bool has_v1 = false;
  std::string unified_mount;
  for (const auto& mi : mounts) {
    if (mi.fs_type == "cgroup") has_v1 = true;
    if (mi.fs_type == "cgroup2" && unified_mount.empty()) unified_mount = mi.mount_point;
  }

  // Our path in a hierarchy, from /proc/self/cgroup ("4:memory:/x" or "0::/x").
  auto own_path = [&](const std::string& controllers_field, bool v2) -> std::string {
    for (const auto& line : split(self_cgroup, '\n')) {
      auto parts = split(line, ':');
      if (parts.size() < 3) continue;
      std::string path = line.substr(parts[0].size() + parts[1].size() + 2);
      if (v2 && parts[0] == "0" && parts[1].empty()) return path;
      if (!v2 && parts[1] == controllers_field) return path;
    }
    return "/";
  };

  auto attach = [&](int at_fd, const std::string& host_dir, const std::string& shown, const char* fstype,
                    const std::string& fsopts) {
    if (opts_.cgroup_namespace) {
      std::string target = fd_path(at_fd);
      if (::mount("cgroup", target.c_str(), fstype, flags | (ro ? MS_RDONLY : 0),
                  fsopts.empty() ? nullptr : fsopts.c_str()) != 0)
        fail_errno("mount {} at {}", fstype, shown);
    } else {
      bind_into(host_dir, at_fd, false, flags | (ro ? MS_RDONLY : 0), 0, 0, shown);
    }
  };

  if (!has_v1) {  // pure v2
    std::string host = unified_mount + own_path("", true);
    attach(dest_fd, host, dest, "cgroup2", "");
    return;
  }

  std::string tmpfs_target = fd_path(dest_fd);
  if (::mount("tmpfs", tmpfs_target.c_str(), "tmpfs", flags, "mode=755") != 0) fail_errno("mount tmpfs at {}", dest);
  UniqueFd top = open_in_root(root_fd_.get(), dest, O_PATH | O_DIRECTORY);
  for (const auto& mi : mounts) {
    bool v2 = mi.fs_type == "cgroup2";
    if (mi.fs_type != "cgroup" && !v2) continue;
    std::string name = mi.mount_point.substr(mi.mount_point.rfind('/') + 1);
    if (name.empty()) continue;
    // Super options list the controllers ("rw,memory" / "rw,name=systemd"), /proc/self/cgroup the same names.
    std::vector<std::string> controllers;
    for (const auto& opt : split(mi.super_options, ','))
      if (opt != "rw" && opt != "ro" && opt.find("clone_children") == std::string::npos && opt != "noprefix" &&
          opt.rfind("release_agent", 0) != 0 && opt.rfind("nsdelegate", 0) != 0 && opt != "memory_recursiveprot")
        controllers.push_back(opt);
    std::string host = mi.mount_point + (v2 ? own_path("", true) : own_path(join(controllers, ","), false));
    if (!is_dir(host)) continue;
    if (::mkdirat(top.get(), name.c_str(), 0755) != 0 && errno != EEXIST) fail_errno("mkdir {}/{}", dest, name);
    UniqueFd sub = open_in_root(root_fd_.get(), dest + "/" + name, O_PATH | O_DIRECTORY);
    attach(sub.get(), host, dest + "/" + name, v2 ? "cgroup2" : "cgroup", v2 ? "" : join(controllers, ","));
    if (name.find(',') != std::string::npos)
      for (const auto& c : split(name, ',')) ::symlinkat(name.c_str(), top.get(), c.c_str());
  }
  if (ro && ::mount(nullptr, fd_path(top.get()).c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, nullptr) != 0)
    fail_errno("remount {} read-only", dest);
}

void Rootfs::create_devices() {
  auto make = [&](const std::string& path, char type, unsigned major, unsigned minor, mode_t mode, uid_t uid, gid_t gid) {
    std::string p = clean_path(path);
    if (p.rfind("/dev/", 0) != 0) fail("device {}: must be under /dev", path);
    auto slash = p.rfind('/');
    UniqueFd dir = mkdir_all_in_root(root_fd_.get(), p.substr(0, slash));
    std::string name = p.substr(slash + 1);
    if (opts_.user_namespace) {
      // mknod is not permitted in a user namespace: bind the host's node instead.
      UniqueFd target = create_file_in_root(root_fd_.get(), p);
      bind_into(p, target.get(), false, 0, 0, 0, p);
      return;
    }
    mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
    ::unlinkat(dir.get(), name.c_str(), 0);
    UniqueFd real_dir = open_in_root(root_fd_.get(), p.substr(0, slash).empty() ? "/" : p.substr(0, slash),
                                     O_RDONLY | O_DIRECTORY);
    if (::mknodat(real_dir.get(), name.c_str(), kind | (mode & 07777), makedev(major, minor)) != 0)
      fail_errno("mknod {}", p);
    if (::fchownat(real_dir.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("chown {}", p);
    if (::fchmodat(real_dir.get(), name.c_str(), mode & 07777, 0) != 0) fail_errno("chmod {}", p);
  };
  for (const auto& d : kDefaultDevices) make(d.path, 'c', d.major, d.minor, 0666, 0, 0);
  for (const auto& d : spec_.linux.devices) {
    if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
      fail("linux.devices: {}: unknown type {:?}", d.path, d.type);
    try {
      make(d.path, d.type == "u" ? 'c' : d.type[0], static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor),
           d.file_mode.value_or(0666), d.uid.value_or(0), d.gid.value_or(0));
    } catch (const Error& e) {
      throw e.wrap("create device");
    }
  }
}

void Rootfs::make_dev_symlinks() {
  UniqueFd dev = open_in_root(root_fd_.get(), "/dev", O_RDONLY | O_DIRECTORY);
  const std::pair<const char*, const char*> links[] = {
      {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
      {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
  };
  for (const auto& [target, name] : links) {
    if (std::string(name) == "ptmx") ::unlinkat(dev.get(), name, 0);
    if (::symlinkat(target, dev.get(), name) != 0 && errno != EEXIST) fail_errno("symlink /dev/{}", name);
  }
  if (path_exists("/proc/kcore")) ::symlinkat("/proc/kcore", dev.get(), "core");
}

void Rootfs::pivot() {
  if (::fchdir(root_fd_.get()) != 0) {
    // root_fd_ is O_PATH; fchdir accepts it since Linux 3.5.
    fail_errno("chdir into rootfs");
  }
  if (opts_.no_pivot) {
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) fail_errno("move rootfs to /");
    if (::chroot(".") != 0) fail_errno("chroot into rootfs");
  } else {
    UniqueFd old_root(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!old_root.valid()) fail_errno("open old root");
    if (::syscall(SYS_pivot_root, ".", ".") != 0) fail_errno("pivot_root into {}", opts_.rootfs);
    // The old root is now stacked on top of the new one. Step into it (as
    // runc does): "." from the new root's directory names the new root
    // mount, and making that rslave would turn every shared mount of the
    // container (rshared binds, rootfsPropagation) into a slave. Then keep
    // the old root's unmount from reaching the host.
    if (::fchdir(old_root.get()) != 0) fail_errno("chdir into old root");
    if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) fail_errno("make old root rslave");
    if (::umount2(".", MNT_DETACH) != 0) fail_errno("detach old root");
  }
  if (::chdir("/") != 0) fail_errno("chdir /");
  root_fd_ = UniqueFd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  // Shared/slave root propagation is applied only now, to the container's own
  // root: before pivot_root it would have made the rootfs mount shared, which
  // pivot_root refuses (and could leak into the host). Private kinds were
  // applied in prepare(). (runc: prepareRootfs.)
  unsigned long prop = propagation_flags(spec_.linux.rootfs_propagation);
  if (prop && !(prop & MS_PRIVATE) && ::mount(nullptr, "/", nullptr, prop, nullptr) != 0)
    fail_errno("apply rootfsPropagation {}", spec_.linux.rootfs_propagation);
}

void Rootfs::mount_console(const std::string& slave_path) {
  UniqueFd console = create_file_in_root(root_fd_.get(), "/dev/console");
  bind_into(slave_path, console.get(), false, 0, 0, 0, "/dev/console");
}

void Rootfs::finalize() {
  // runc creates a missing process.cwd (as root, before the root turns read-only).
  struct stat cwd_st;
  if (spec_.process && !spec_.process->cwd.empty() && ::stat(spec_.process->cwd.c_str(), &cwd_st) != 0 &&
      errno == ENOENT) {
    try {
      mkdir_all_in_root(root_fd_.get(), spec_.process->cwd);
    } catch (const Error& e) {
      throw e.wrap(fmt::format("create cwd {:?}", spec_.process->cwd));
    }
  }
  for (const auto& p : spec_.linux.masked_paths) {
    UniqueFd fd = try_open_in_root(root_fd_.get(), p, O_PATH);
    if (!fd.valid()) {
      if (errno == ENOENT) continue;  // absent paths need no masking
      fail_errno("open masked path {}", p);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) fail_errno("stat masked path {}", p);
    if (S_ISDIR(st.st_mode)) {
      if (::mount("tmpfs", fd_path(fd.get()).c_str(), "tmpfs", MS_RDONLY, nullptr) != 0)
        fail_errno("mask {}", p);
    } else {
      bind_into("/dev/null", fd.get(), false, 0, 0, 0, p);
    }
  }
  for (const auto& p : spec_.linux.readonly_paths) {
    UniqueFd fd = try_open_in_root(root_fd_.get(), p, O_PATH);
    if (!fd.valid()) {
      if (errno == ENOENT) continue;
      fail_errno("open read-only path {}", p);
    }
    bind_into(fd_path(fd.get()), fd.get(), true, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0, p);
  }
  if (spec_.root.readonly) {
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (::mount_setattr(root.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) fail_errno("make root read-only");
  }
}

void apply_sysctls(const std::map<std::string, std::string>& sysctl) {
  for (const auto& [key, value] : sysctl) {
    std::string rel = key;
    for (auto& c : rel)
      if (c == '.') c = '/';
    if (rel.find("..") != std::string::npos) fail("linux.sysctl: invalid key {:?}", key);
    std::string path = "/proc/sys/" + rel;
    try {
      write_file(path, value);
    } catch (const Error& e) {
      throw e.wrap(fmt::format("set sysctl {}={}", key, value));
    }
  }
}

}  // namespace berth::runtime
