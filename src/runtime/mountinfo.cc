#include "runtime/mountinfo.h"

#include "base/fs.h"
#include "base/strings.h"

namespace berth::runtime {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    bool octal = s[i] == '\\' && i + 3 < s.size();
    for (size_t k = 1; octal && k <= 3; ++k) octal = s[i + k] >= '0' && s[i + k] <= '7';
    if (octal) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::vector<MountInfo> parse_mountinfo(const std::string& text) {
  std::vector<MountInfo> out;
  for (const auto& line : split(text, '\n')) {
    if (line.empty()) continue;
    auto f = split(line, ' ');
    // id parent major:minor root mount-point options [optional...] - type source super
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); ++i)
      if (f[i] == "-") {
        dash = i;
        break;
      }
    if (dash == 0 || f.size() < dash + 4) continue;
    MountInfo m;
    m.root = unescape(f[3]);
    m.mount_point = unescape(f[4]);
    m.options = f[5];
    m.fs_type = f[dash + 1];
    m.source = unescape(f[dash + 2]);
    m.super_options = f[dash + 3];
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<MountInfo> read_mountinfo(const std::string& path) { return parse_mountinfo(read_file(path)); }

}  // namespace berth::runtime
