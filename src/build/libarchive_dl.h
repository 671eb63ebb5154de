// libarchive, loaded on first use (dlopen) rather than linked: the berth CLI
// needs it only for `build` (the context tar, --output), and linking it would
// cost every other command its load time (~1 ms of berth's ~1.2 ms start).
#pragma once

#include <archive.h>
#include <archive_entry.h>

namespace berth::build {

#define BERTH_LIBARCHIVE_FUNCTIONS(X) \
  X(archive_entry_copy_stat) \
  X(archive_entry_free) \
  X(archive_entry_new) \
  X(archive_entry_pathname) \
  X(archive_entry_set_dev) \
  X(archive_entry_set_filetype) \
  X(archive_entry_set_gid) \
  X(archive_entry_set_hardlink) \
  X(archive_entry_set_ino) \
  X(archive_entry_set_mtime) \
  X(archive_entry_set_nlink) \
  X(archive_entry_set_pathname) \
  X(archive_entry_set_perm) \
  X(archive_entry_set_rdev) \
  X(archive_entry_set_size) \
  X(archive_entry_set_symlink) \
  X(archive_entry_set_uid) \
  X(archive_entry_unset_atime) \
  X(archive_entry_unset_birthtime) \
  X(archive_entry_unset_ctime) \
  X(archive_error_string) \
  X(archive_read_extract2) \
  X(archive_read_free) \
  X(archive_read_new) \
  X(archive_read_next_header) \
  X(archive_read_open_fd) \
  X(archive_read_support_filter_all) \
  X(archive_read_support_format_tar) \
  X(archive_write_add_filter_gzip) \
  X(archive_write_close) \
  X(archive_write_data) \
  X(archive_write_disk_new) \
  X(archive_write_disk_set_options) \
  X(archive_write_free) \
  X(archive_write_header) \
  X(archive_write_new) \
  X(archive_write_open) \
  X(archive_write_set_bytes_in_last_block) \
  X(archive_write_set_format_pax_restricted)

struct Libarchive {
#define BERTH_DECLARE(name) decltype(&::name) name = nullptr;
  BERTH_LIBARCHIVE_FUNCTIONS(BERTH_DECLARE)
#undef BERTH_DECLARE
};

// Throws Error "load libarchive.so.13: ..." when the library or a symbol is missing.
const Libarchive& ar();

}  // namespace berth::build
