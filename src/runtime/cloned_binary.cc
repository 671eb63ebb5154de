#include "runtime/cloned_binary.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"

namespace berth::runtime {
namespace {

constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

}  // namespace

void ensure_running_from_sealed_copy(char** argv, char** envp) {
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self.valid()) fail_errno("open /proc/self/exe");
  int seals = ::fcntl(self.get(), F_GET_SEALS);
  if (seals >= 0 && (seals & kSeals) == kSeals) return;

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
