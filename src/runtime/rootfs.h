// Rootfs: builds the container's file-system view inside its (new) mount
// namespace. Runs in the container process, in three phases so hooks can run
// between them, exactly where the runtime spec places them:
//
//   prepare()  propagation, rootfs bind, every spec mount, /dev contents
//   -- prestart/createRuntime (runtime ns) and createContainer hooks run --
//   pivot()    pivot_root (or MS_MOVE+chroot with no_pivot) into the rootfs
//   finalize() masked and read-only paths, read-only root
//
// Every mount destination is resolved inside the rootfs with
// open_in_root (symlinks cannot point a mount outside it, CVE-2021-30465),
// and bind mounts are attached to the resolved descriptor itself
// (open_tree + move_mount), so nothing can be swapped in between.
#pragma once

#include <string>

#include "base/fd.h"
#include "oci/spec.h"
#include "runtime/mount_options.h"

namespace berth::runtime {

struct RootfsOptions {
  std::string rootfs;  // absolute host path
  bool user_namespace = false;    // no mknod: devices are bind-mounted
  bool cgroup_namespace = false;  // mount cgroupfs instead of binding our cgroup
  bool no_pivot = false;
};

class Rootfs {
 public:
  Rootfs(const oci::Spec& spec, RootfsOptions opts) : spec_(spec), opts_(std::move(opts)) {}

  void prepare();
  void pivot();
  // Binds the terminal's slave onto /dev/console (after pivot).
  void mount_console(const std::string& slave_path);
  void finalize();

 private:
  void mount_entry(const oci::Mount& m);
  void mount_cgroup(const oci::Mount& m, int dest_fd);
  void apply_recursive_attributes(const std::string& dest, const MountOptions& o);
  void bind_into(const std::string& source, int dest_fd, bool recursive, unsigned long flags,
                 unsigned long long attr_clr, unsigned long propagation, const std::string& shown_dest);
  void create_devices();
  void make_dev_symlinks();
  bool dev_is_bound_from_host() const;

  const oci::Spec& spec_;
  RootfsOptions opts_;
  UniqueFd root_fd_;
};

// Writes linux.sysctl into /proc/sys of the current (container) namespaces.
void apply_sysctls(const std::map<std::string, std::string>& sysctl);

}  // namespace berth::runtime
