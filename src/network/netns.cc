#include "network/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <exception>
#include <thread>

#include "base/error.h"
#include "base/fd.h"
#include "network/netlink.h"

namespace berth::network {
namespace {

// Runs fn on a thread of its own and waits for it. The thread may change
// its namespaces freely: it ends with fn, so no other code ever runs there.
void on_own_thread(const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread thread([&] {
    try {
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  thread.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

void create_netns(const std::string& path) {
  if (is_netns(path)) fail("create netns {}: already exists", path);
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444));
  if (!file.valid()) fail_errno("create netns {}", path);
  file.reset();
  try {
    // unshare on a throw-away thread: the caller's thread (and so every
    // other thread of the daemon) stays in its own namespace.
    on_own_thread([&] {
      if (::unshare(CLONE_NEWNET) != 0) fail_errno("unshare network namespace");
      if (::mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0)
        fail_errno("bind mount the namespace on {}", path);
      Netlink().set_link_up("lo");
    });
  } catch (const Error& e) {
    try {
      remove_netns(path);
    } catch (const Error&) {  // the first error is the one worth reporting
    }
    throw e.wrap(fmt::format("create netns {}", path));
  }
}

void remove_netns(const std::string& path) {
  // Loop: a path pinned twice (by a crashed earlier run) has stacked mounts.
  while (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
  }
  if (errno != EINVAL && errno != ENOENT) fail_errno("unmount netns {}", path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail_errno("remove netns {}", path);
}

bool is_netns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct statfs fs {};
  return fd.valid() && ::fstatfs(fd.get(), &fs) == 0 && fs.f_type == NSFS_MAGIC &&
         ::ioctl(fd.get(), NS_GET_NSTYPE) == CLONE_NEWNET;
}

void run_in_netns(const std::string& path, const std::function<void()>& fn) {
  UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) fail_errno("open netns {}", path);
  on_own_thread([&] {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) fail_errno("join netns {}", path);
    fn();
  });
}

}  // namespace berth::network
