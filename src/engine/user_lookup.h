// Resolving a docker "User" string ("name", "uid", "name:group", "uid:gid")
// against the container's own /etc/passwd and /etc/group, as docker does
// through runc's libcontainer/user before it writes process.user.
//
// Contract (runc's GetExecUser semantics):
// - An empty spec means uid 0; a name or number is looked up in passwd
//   (first match wins). A number with no entry is used as is; a name with no
//   entry fails: "unable to find user NAME: no matching entries in passwd
//   file". Missing files count as empty, so numeric ids always work.
// - The primary gid is the passwd entry's, unless ":group" is given (by
//   name or number, same rules: "unable to find group G: no matching
//   entries in group file").
// - Supplementary groups come from /etc/group membership of the matched
//   user name, only when no explicit group was given; then GroupAdd
//   (HostConfig.GroupAdd, names or numbers) follows.
// - additional_gids is docker's list: primary gid first, then those.
// - ids must be within 0..2147483647.
// - Files are read through openat2(RESOLVE_IN_ROOT), so symlinks in the
//   image cannot make us read host files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::engine {

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

// Malformed lines (too few fields, non-numeric ids) are skipped.
std::vector<PasswdEntry> parse_passwd(std::string_view text);
std::vector<GroupEntry> parse_group(std::string_view text);

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string home = "/";
};

// passwd / group: the files' contents, nullopt when the file is absent.
ResolvedUser resolve_user(std::string_view spec, const std::vector<std::string>& group_add,
                          const std::optional<std::string>& passwd, const std::optional<std::string>& group);

// Reads <rootfs>/etc/passwd and <rootfs>/etc/group (confined to rootfs).
ResolvedUser resolve_user_in_rootfs(const std::string& rootfs, std::string_view spec,
                                    const std::vector<std::string>& group_add);

}  // namespace berth::engine
