// /proc/<pid>/mountinfo parsing (proc(5) format).
#pragma once

#include <string>
#include <vector>

namespace berth::runtime {

struct MountInfo {
  std::string root;         // root of the mount within its filesystem
  std::string mount_point;  // where it is mounted
  std::string options;      // per-mount options
  std::string fs_type;
  std::string source;
  std::string super_options;
};

std::vector<MountInfo> parse_mountinfo(const std::string& text);
std::vector<MountInfo> read_mountinfo(const std::string& path = "/proc/self/mountinfo");

}  // namespace berth::runtime
