#include "runtime/mount_options.h"

#include <sys/mount.h>

#include <cstring>

namespace berth::runtime {
namespace {

struct FlagOption {
  const char* name;
  bool clear;
  unsigned long flag;
};

// runc's table (libcontainer/specconv); no library exposes it.
constexpr FlagOption kFlags[] = {
    {"async", true, MS_SYNCHRONOUS},   {"atime", true, MS_NOATIME},        {"defaults", false, 0},
    {"dev", true, MS_NODEV},           {"diratime", true, MS_NODIRATIME},  {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},         {"iversion", false, MS_I_VERSION},  {"lazytime", false, MS_LAZYTIME},
    {"loud", true, MS_SILENT},         {"mand", false, MS_MANDLOCK},       {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},        {"nodiratime", false, MS_NODIRATIME}, {"noexec", false, MS_NOEXEC},
    {"noiversion", true, MS_I_VERSION}, {"nolazytime", true, MS_LAZYTIME}, {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME}, {"nostrictatime", true, MS_STRICTATIME}, {"nosuid", false, MS_NOSUID},
    {"nosymfollow", false, MS_NOSYMFOLLOW}, {"relatime", false, MS_RELATIME}, {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},          {"rw", true, MS_RDONLY},            {"silent", false, MS_SILENT},
    {"strictatime", false, MS_STRICTATIME}, {"suid", true, MS_NOSUID},     {"sync", false, MS_SYNCHRONOUS},
    {"symfollow", true, MS_NOSYMFOLLOW},
};

struct AttrOption {
  const char* name;
  bool clear;
  unsigned long long attr;
};

// runc's recursive table. The access-time modes (MOUNT_ATTR_RELATIME is 0)
// are one setting, not bits: see parse_mount_options.
constexpr AttrOption kRecursiveAttrs[] = {
    {"rro", false, MOUNT_ATTR_RDONLY},         {"rrw", true, MOUNT_ATTR_RDONLY},
    {"rnosuid", false, MOUNT_ATTR_NOSUID},     {"rsuid", true, MOUNT_ATTR_NOSUID},
    {"rnodev", false, MOUNT_ATTR_NODEV},       {"rdev", true, MOUNT_ATTR_NODEV},
    {"rnoexec", false, MOUNT_ATTR_NOEXEC},     {"rexec", true, MOUNT_ATTR_NOEXEC},
    {"rnodiratime", false, MOUNT_ATTR_NODIRATIME}, {"rdiratime", true, MOUNT_ATTR_NODIRATIME},
    {"rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW}, {"rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW},
};

constexpr AttrOption kRecursiveAtime[] = {
    {"rrelatime", false, MOUNT_ATTR_RELATIME},     {"rnorelatime", true, MOUNT_ATTR_RELATIME},
    {"rnoatime", false, MOUNT_ATTR_NOATIME},       {"ratime", true, MOUNT_ATTR_NOATIME},
    {"rstrictatime", false, MOUNT_ATTR_STRICTATIME}, {"rnostrictatime", true, MOUNT_ATTR_STRICTATIME},
};

}  // namespace

unsigned long propagation_flags(const std::string& name) {
  if (name == "private") return MS_PRIVATE;
  if (name == "rprivate") return MS_PRIVATE | MS_REC;
  if (name == "shared") return MS_SHARED;
  if (name == "rshared") return MS_SHARED | MS_REC;
  if (name == "slave") return MS_SLAVE;
  if (name == "rslave") return MS_SLAVE | MS_REC;
  if (name == "unbindable") return MS_UNBINDABLE;
  if (name == "runbindable") return MS_UNBINDABLE | MS_REC;
  return 0;
}

MountOptions parse_mount_options(const std::vector<std::string>& options) {
  MountOptions out;
  for (const auto& o : options) {
    if (o == "bind" || o == "rbind") {
      out.bind = true;
      out.recursive = out.recursive || o == "rbind";
      continue;
    }
    if (unsigned long p = propagation_flags(o)) {
      out.propagation = p;
      continue;
    }
    bool matched = false;
    for (const auto& f : kFlags) {
      if (o != f.name) continue;
      matched = true;
      if (f.clear) {
        out.flags &= ~f.flag;
        out.clear |= f.flag;
      } else {
        out.flags |= f.flag;
        out.clear &= ~f.flag;
      }
    }
    for (const auto& a : kRecursiveAttrs) {
      if (o != a.name) continue;
      matched = true;
      // The later of "rro"/"rrw" wins, as with "ro"/"rw".
      (a.clear ? out.attr_clr : out.attr_set) |= a.attr;
      (a.clear ? out.attr_set : out.attr_clr) &= ~a.attr;
    }
    for (const auto& a : kRecursiveAtime) {
      if (o != a.name) continue;
      matched = true;
      // mount_setattr(2) takes an access-time mode in attr_set only together
      // with MOUNT_ATTR__ATIME in attr_clr. Clearing noatime/strictatime
      // ("ratime") falls back to the default, relatime; "rnorelatime" changes
      // nothing (as in runc, where it clears the zero bit).
      if (!a.clear) {
        out.attr_clr |= MOUNT_ATTR__ATIME;
        out.attr_set = (out.attr_set & ~MOUNT_ATTR__ATIME) | a.attr;
      } else if (a.attr != MOUNT_ATTR_RELATIME) {
        out.attr_clr |= MOUNT_ATTR__ATIME;
        if ((out.attr_set & MOUNT_ATTR__ATIME) == a.attr) out.attr_set &= ~MOUNT_ATTR__ATIME;
      }
    }
    // tmpcopyup and idmap options are runc extensions we do not implement;
    // they would confuse the filesystem, so they are dropped, not passed on.
    if (matched || o == "tmpcopyup" || o == "idmap" || o == "ridmap") continue;
    if (!out.data.empty()) out.data += ',';
    out.data += o;
  }
  return out;
}

}  // namespace berth::runtime
