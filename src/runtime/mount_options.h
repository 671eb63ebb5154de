// Mount options from config.json ("ro", "rbind", "rslave", "mode=755", ...)
// split into mount(2) flags, propagation, recursive attributes and the
// filesystem's data string, with runc's option table.
#pragma once

#include <string>
#include <vector>

namespace berth::runtime {

struct MountOptions {
  unsigned long flags = 0;        // MS_* set
  unsigned long clear = 0;        // MS_* explicitly cleared ("rw", "suid", ...)
  unsigned long propagation = 0;  // MS_SHARED|MS_SLAVE|... (with MS_REC for r* forms)
  bool bind = false;
  bool recursive = false;         // rbind
  // Recursive MOUNT_ATTR_* ("rro", "rnosuid", "rnoatime", ...). Apply both in
  // one mount_setattr(AT_RECURSIVE) call: for an access-time mode attr_clr
  // carries MOUNT_ATTR__ATIME, without which the kernel refuses attr_set.
  unsigned long long attr_set = 0, attr_clr = 0;
  std::string data;               // comma-joined unrecognised options, passed to the filesystem
};

MountOptions parse_mount_options(const std::vector<std::string>& options);
// Flags of a propagation name ("rslave" -> MS_SLAVE|MS_REC); 0 if unknown.
unsigned long propagation_flags(const std::string& name);

}  // namespace berth::runtime
