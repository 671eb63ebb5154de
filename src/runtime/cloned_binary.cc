#include "runtime/cloned_binary.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"

namespace berth::runtime {
namespace {

constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

// The cheap protection (runc 1.2 does the same): exec ourselves from a
// private, detached, read-only bind mount of our own binary. Nothing in any
// mount namespace can reach that mount to make it writable, and writing
// through /proc/<pid>/exe then fails with EROFS, without copying megabytes
// on every run. Needs CAP_SYS_ADMIN; returns only if that is not possible.
void exec_from_read_only_mount(char** argv, char** envp) {
  UniqueFd tree(static_cast<int>(::open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
  if (!tree.valid()) return;
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) return;
  ::syscall(SYS_execveat, tree.get(), "", argv, envp, AT_EMPTY_PATH);
}

}  // namespace

void ensure_running_from_sealed_copy(char** argv, char** envp) {
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self.valid()) fail_errno("open /proc/self/exe");
  int seals = ::fcntl(self.get(), F_GET_SEALS);
  if (seals >= 0 && (seals & kSeals) == kSeals) return;
  // Already running from a read-only mount (ours, or an installation on a
  // read-only file system, which no container can write either).
  struct statvfs vfs;
  if (::fstatvfs(self.get(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) return;
  self.reset();
  exec_from_read_only_mount(argv, envp);
  self = UniqueFd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self.valid()) fail_errno("open /proc/self/exe");

  struct stat st;
  if (::fstat(self.get(), &st) != 0) fail_errno("stat /proc/self/exe");
  UniqueFd copy(::memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!copy.valid()) fail_errno("memfd_create");
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = ::sendfile(copy.get(), self.get(), &off, static_cast<size_t>(st.st_size - off));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("copy runtime binary");
    }
    if (n == 0) break;
  }
  if (::fcntl(copy.get(), F_ADD_SEALS, kSeals) != 0) fail_errno("seal runtime binary copy");
  self.reset();
  ::syscall(SYS_execveat, copy.get(), "", argv, envp, AT_EMPTY_PATH);
  fail_errno("re-exec sealed runtime binary");
}

}  // namespace berth::runtime
