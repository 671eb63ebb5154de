#include "engine/user_lookup.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::engine {
namespace {

constexpr long long kMaxId = 2147483647;
constexpr const char* kNoPasswdEntries = "no matching entries in passwd file";
constexpr const char* kNoGroupEntries = "no matching entries in group file";

// A decimal id as Go's strconv.Atoi reads it; nullopt when not a number.
std::optional<long long> numeric(std::string_view s) {
  long long n;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (!parse_int64(s, &n)) return std::nullopt;
  return n;
}

uint32_t checked_id(long long n) {
  if (n < 0 || n > kMaxId) fail("uids and gids must be in range 0-{}", kMaxId);
  return static_cast<uint32_t>(n);
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  for (const auto& line : split(text, '\n')) {
    std::string_view t = trim(line);
    if (!t.empty()) out.emplace_back(t);
  }
  return out;
}

std::optional<uint32_t> id_field(const std::string& s) {
  auto n = numeric(s);
  if (!n || *n < 0 || *n > 0xffffffffLL) return std::nullopt;
  return static_cast<uint32_t>(*n);
}

std::optional<std::string> read_optional_in_root(int root_fd, const char* path) {
  UniqueFd fd = try_open_in_root(root_fd, path, O_RDONLY);
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    fail_errno("open {} in container root", path);
  }
  return read_fd(fd.get(), path);
}

// HostConfig.GroupAdd: names or numbers, in request order, without repeats.
std::vector<uint32_t> additional_groups(const std::vector<std::string>& requested,
                                        const std::vector<GroupEntry>& groups) {
  std::vector<uint32_t> out;
  for (const auto& want : requested) {
    std::optional<uint32_t> gid;
    for (const auto& g : groups) {
      if (g.name == want || std::to_string(g.gid) == want) {
        gid = g.gid;
        break;
      }
    }
    if (!gid) {
      auto n = numeric(want);
      if (!n) fail("Unable to find group {}: {}", want, kNoGroupEntries);
      gid = checked_id(*n);
    }
    if (std::find(out.begin(), out.end(), *gid) == out.end()) out.push_back(*gid);
  }
  return out;
}

}  // namespace

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> out;
  for (const auto& line : lines_of(text)) {
    auto f = split(line, ':');
    if (f.size() < 4) continue;
    auto uid = id_field(f[2]);
    auto gid = id_field(f[3]);
    if (!uid || !gid) continue;
    out.push_back(PasswdEntry{f[0], *uid, *gid, f.size() > 5 ? f[5] : ""});
  }
  return out;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> out;
  for (const auto& line : lines_of(text)) {
    auto f = split(line, ':');
    if (f.size() < 3) continue;
    auto gid = id_field(f[2]);
    if (!gid) continue;
    GroupEntry g{f[0], *gid, {}};
    if (f.size() > 3)
      for (const auto& m : split(f[3], ','))
        if (!trim(m).empty()) g.members.emplace_back(trim(m));
    out.push_back(std::move(g));
  }
  return out;
}

ResolvedUser resolve_user(std::string_view spec, const std::vector<std::string>& group_add,
                          const std::optional<std::string>& passwd, const std::optional<std::string>& group) {
  std::string user_arg(spec), group_arg;
  if (auto colon = spec.find(':'); colon != std::string_view::npos) {
    user_arg = std::string(spec.substr(0, colon));
    group_arg = std::string(spec.substr(colon + 1));
  }
  auto uid_num = numeric(user_arg);
  auto gid_num = numeric(group_arg);
  std::vector<PasswdEntry> users = passwd ? parse_passwd(*passwd) : std::vector<PasswdEntry>{};
  std::vector<GroupEntry> groups = group ? parse_group(*group) : std::vector<GroupEntry>{};

  ResolvedUser out;
  const PasswdEntry* matched = nullptr;
  for (const auto& u : users) {
    bool hit = user_arg.empty() ? u.uid == 0 : uid_num ? static_cast<long long>(u.uid) == *uid_num : u.name == user_arg;
    if (hit) {
      matched = &u;
      break;
    }
  }
  if (matched) {
    out.uid = matched->uid;
    out.gid = matched->gid;
    if (!matched->home.empty()) out.home = matched->home;
  } else if (!user_arg.empty()) {
    if (!uid_num) fail("unable to find user {}: {}", user_arg, kNoPasswdEntries);
    out.uid = checked_id(*uid_num);
  }

  std::vector<uint32_t> supplementary;
  if (!group_arg.empty()) {
    const GroupEntry* g = nullptr;
    for (const auto& e : groups) {
      if (gid_num ? static_cast<long long>(e.gid) == *gid_num : e.name == group_arg) {
        g = &e;
        break;
      }
    }
    if (g) {
      out.gid = g->gid;
    } else {
      if (!gid_num) fail("unable to find group {}: {}", group_arg, kNoGroupEntries);
      out.gid = checked_id(*gid_num);
    }
  } else if (matched) {
    // Membership lists name users; an explicit group replaces them all.
    for (const auto& e : groups)
      if (std::find(e.members.begin(), e.members.end(), matched->name) != e.members.end())
        supplementary.push_back(e.gid);
  }

  out.additional_gids.push_back(out.gid);
  for (uint32_t g : supplementary) out.additional_gids.push_back(g);
  for (uint32_t g : additional_groups(group_add, groups)) out.additional_gids.push_back(g);
  return out;
}

ResolvedUser resolve_user_in_rootfs(const std::string& rootfs, std::string_view spec,
                                    const std::vector<std::string>& group_add) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) fail_errno("open container root {}", rootfs);
  auto passwd = read_optional_in_root(root.get(), "/etc/passwd");
  auto group = read_optional_in_root(root.get(), "/etc/group");
  return resolve_user(spec, group_add, passwd, group);
}

}  // namespace berth::engine
