#include "build/build_output.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "build/libarchive_dl.h"

namespace berth::build {

void extract_tar(int fd, const std::string& dir) {
  mkdir_all(dir, 0755);
  UniqueFd cwd(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cwd.valid()) fail_errno("output {}: open the working directory", dir);
  if (::chdir(dir.c_str()) != 0) fail_errno("output {}", dir);
  const Libarchive& l = ar();
  struct archive* in = l.archive_read_new();
  struct archive* out = l.archive_write_disk_new();
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
  if (::geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;
  l.archive_write_disk_set_options(out, flags);
  l.archive_read_support_filter_all(in);
  l.archive_read_support_format_tar(in);
  std::string error;
  if (l.archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK) {
    error = l.archive_error_string(in);
  } else {
    struct archive_entry* e;
    for (;;) {
      int r = l.archive_read_next_header(in, &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        error = l.archive_error_string(in);
        break;
      }
      if (l.archive_read_extract2(in, e, out) < ARCHIVE_WARN) {
        error = fmt::format("{}: {}", l.archive_entry_pathname(e), l.archive_error_string(out));
        break;
      }
    }
  }
  l.archive_read_free(in);
  l.archive_write_free(out);
  if (::fchdir(cwd.get()) != 0) fail_errno("output {}: back to the working directory", dir);
  if (!error.empty()) fail("output {}: {}", dir, error);
}

}  // namespace berth::build
