#include "engine/spec_mounts.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::engine {
namespace {

using nlohmann::json;

const std::set<std::string>& propagation_modes() {
  static const std::set<std::string> k = {"private", "rprivate", "shared", "rshared", "slave", "rslave"};
  return k;
}

// A bind's mode string ("ro,Z,rshared"): at most one of each kind.
struct BindMode {
  bool read_only = false;
  bool nocopy = false;
  std::string propagation;
};

std::optional<BindMode> parse_bind_mode(const std::string& mode) {
  BindMode m;
  if (mode.empty()) return m;
  std::map<std::string, int> counts;
  for (const auto& o : split(mode, ',')) {
    std::string kind;
    if (o == "rw" || o == "ro") {
      kind = "rw";
      m.read_only = o == "ro";
    } else if (o == "z" || o == "Z") {
      kind = "label";  // SELinux relabeling: nothing to do without SELinux
    } else if (propagation_modes().count(o)) {
      kind = "propagation";
      m.propagation = o;
    } else if (o == "nocopy") {
      kind = "copy";
      m.nocopy = true;
    } else if (o == "consistent" || o == "cached" || o == "delegated" || o == "default") {
      kind = "consistency";  // macOS-only hints, accepted and ignored
    } else {
      return std::nullopt;
    }
    if (++counts[kind] > 1) return std::nullopt;
  }
  return m;
}

[[noreturn]] void mount_config_error(const std::string& type, const std::string& why) {
  fail("invalid mount config for type \"{}\": {}", type, why);
}

void check_target(const std::string& type, const std::string& target) {
  if (target.empty()) mount_config_error(type, "field Target must not be empty");
  if (target[0] != '/') mount_config_error(type, fmt::format("invalid mount path: '{}' mount path must be absolute", target));
  if (clean_path(target) == "/") fail("invalid specification: destination can't be '/'");
}

[[noreturn]] void volume_source(const std::string& name) {
  static const std::regex kVolumeName("[a-zA-Z0-9][a-zA-Z0-9_.-]+");
  if (!std::regex_match(name, kVolumeName))
    fail("create {}: \"{}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are "
         "allowed. If you intended to pass a host directory, use absolute path",
         name, name);
  fail("volumes are not supported yet (named volume \"{}\")", name);
}

json bind_mount(const std::string& source, const std::string& target, bool read_only, const std::string& propagation,
                bool recursive) {
  json opts = json::array({recursive ? "rbind" : "bind"});
  if (read_only) opts.push_back("ro");
  opts.push_back(propagation.empty() ? "rprivate" : propagation);
  return {{"destination", clean_path(target)}, {"type", "bind"}, {"source", clean_path(source)}, {"options", opts}};
}

json tmpfs_mount(const std::string& target, const std::string& data) {
  std::vector<std::string> opts = {"noexec", "nosuid", "nodev", "rprivate"};
  if (!data.empty())
    for (const auto& o : split(data, ',')) opts.push_back(o);
  return {{"destination", clean_path(target)}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", merge_tmpfs_options(opts)}};
}

// "-v src:dst[:mode]" (or just "dst", an anonymous volume).
json parse_bind(const std::string& raw) {
  auto invalid_spec = [&] { fail("invalid volume specification: '{}'", raw); };
  if (std::count(raw.begin(), raw.end(), ':') > 2) invalid_spec();
  auto parts = split(raw, ':');
  if (parts[0].empty()) invalid_spec();
  std::string source, target, mode;
  if (parts.size() == 1) {
    fail("volumes are not supported yet (anonymous volume at \"{}\")", raw);
  } else if (parts.size() == 2) {
    if (parse_bind_mode(parts[1]) && !parts[1].empty()) invalid_spec();  // "/foo:rw": a volume cannot take a mode
    source = parts[0];
    target = parts[1];
  } else {
    source = parts[0];
    target = parts[1];
    mode = parts[2];
  }
  auto m = parse_bind_mode(mode);
  if (!m) fail("invalid mode: {}", mode);
  if (source[0] != '/') volume_source(source);
  try {
    check_target("bind", target);
    if (m->nocopy) mount_config_error("bind", "field VolumeOptions must not be specified");
  } catch (const Error& e) {
    throw e.wrap(fmt::format("invalid volume specification: '{}'", raw));
  }
  // docker -v creates a missing host directory; --mount does not.
  if (!path_exists(source)) mkdir_all(source);
  return bind_mount(source, target, m->read_only, m->propagation, true);
}

// "size=64m" from TmpfsOptions.SizeBytes: the largest unit that divides it.
std::string tmpfs_size_option(long long bytes) {
  for (auto [suffix, unit] : {std::pair{"g", 1LL << 30}, {"m", 1LL << 20}, {"k", 1LL << 10}})
    if (bytes % unit == 0) return fmt::format("size={}{}", bytes / unit, suffix);
  return fmt::format("size={}", bytes);
}

bool present(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

// One entry of HostConfig.Mounts.
json parse_api_mount(const json& m) {
  if (!m.is_object()) fail("invalid mount config: expected an object, got {}", m.dump());
  std::string type = m.value("Type", "");
  std::string source = m.value("Source", "");
  std::string target = m.value("Target", "");
  bool read_only = m.value("ReadOnly", false);
  if (target.empty()) mount_config_error(type, "field Target must not be empty");
  if (type == "bind") {
    if (present(m, "VolumeOptions")) mount_config_error(type, "field VolumeOptions must not be specified");
    if (present(m, "TmpfsOptions")) mount_config_error(type, "field TmpfsOptions must not be specified");
    if (source.empty()) mount_config_error(type, "field Source must not be empty");
    if (source[0] != '/') mount_config_error(type, fmt::format("invalid mount path: '{}' mount path must be absolute", source));
    check_target(type, target);
    json bo = m.value("BindOptions", json::object());
    if (bo.is_null()) bo = json::object();
    std::string propagation = bo.value("Propagation", "");
    if (!propagation.empty() && !propagation_modes().count(propagation))
      mount_config_error(type, fmt::format("invalid propagation mode: {}", propagation));
    if (!path_exists(source)) {
      if (!bo.value("CreateMountpoint", false)) mount_config_error(type, fmt::format("bind source path does not exist: {}", source));
      mkdir_all(source);
    }
    return bind_mount(source, target, read_only, propagation, !bo.value("NonRecursive", false));
  }
  if (type == "tmpfs") {
    if (present(m, "BindOptions")) mount_config_error(type, "field BindOptions must not be specified");
    if (present(m, "VolumeOptions")) mount_config_error(type, "field VolumeOptions must not be specified");
    if (!source.empty()) mount_config_error(type, "field Source must not be specified");
    check_target(type, target);
    std::vector<std::string> data;
    if (read_only) data.push_back("ro");
    json to = m.value("TmpfsOptions", json::object());
    if (to.is_null()) to = json::object();
    if (long long mode = to.value("Mode", 0LL); mode != 0) data.push_back(fmt::format("mode={:o}", mode));
    if (long long size = to.value("SizeBytes", 0LL); size != 0) {
      if (size < 0) mount_config_error(type, "invalid tmpfs size");
      data.push_back(tmpfs_size_option(size));
    }
    return tmpfs_mount(target, join(data, ","));
  }
  if (type == "volume") fail("volumes are not supported yet (mount at \"{}\")", target);
  mount_config_error(type, "mount type unknown");
}

// Mount flags a tmpfs option list may carry, grouped by the flag they set:
// options of one group contradict each other, and the later one wins.
const std::map<std::string, int>& tmpfs_flag_groups() {
  static const std::map<std::string, int> k = {
      {"ro", 1},           {"rw", 1},           {"suid", 2},       {"nosuid", 2},     {"dev", 3},
      {"nodev", 3},        {"exec", 4},         {"noexec", 4},     {"sync", 5},       {"async", 5},
      {"dirsync", 6},      {"remount", 7},      {"mand", 8},       {"nomand", 8},     {"atime", 9},
      {"noatime", 9},      {"diratime", 10},    {"nodiratime", 10}, {"bind", 11},     {"rbind", 12},
      {"relatime", 13},    {"norelatime", 13},  {"strictatime", 14}, {"nostrictatime", 14},
      // One propagation mode only.
      {"private", 15},     {"rprivate", 15},    {"shared", 15},    {"rshared", 15},   {"slave", 15},
      {"rslave", 15},      {"unbindable", 15},  {"runbindable", 15},
  };
  return k;
}

}  // namespace

std::vector<std::string> merge_tmpfs_options(const std::vector<std::string>& options) {
  static const std::set<std::string> kDataKeys = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"};
  std::set<int> seen_groups;
  std::set<std::string> seen_keys;
  std::vector<std::string> reversed;
  // Walk from the end so the last occurrence of each kind is the one kept.
  for (auto it = options.rbegin(); it != options.rend(); ++it) {
    const std::string& o = *it;
    if (o == "defaults") continue;
    if (auto f = tmpfs_flag_groups().find(o); f != tmpfs_flag_groups().end()) {
      if (seen_groups.insert(f->second).second) reversed.push_back(o);
      continue;
    }
    auto eq = o.find('=');
    std::string key = o.substr(0, eq);
    if (eq == std::string::npos || !kDataKeys.count(key)) fail("invalid tmpfs option \"{}\"", o);
    if (seen_keys.insert(key).second) reversed.push_back(o);
  }
  return {reversed.rbegin(), reversed.rend()};
}

void sort_mounts_by_depth(std::vector<json>* mounts) {
  auto depth = [](const json& m) {
    std::string d = clean_path(m.value("destination", ""));
    return d == "/" ? 1 : static_cast<long>(std::count(d.begin(), d.end(), '/')) + 1;
  };
  std::stable_sort(mounts->begin(), mounts->end(), [&](const json& a, const json& b) { return depth(a) < depth(b); });
}

std::vector<json> parse_user_mounts(const json& hc) {
  std::vector<json> binds;
  if (auto b = hc.find("Binds"); b != hc.end() && b->is_array())
    for (const auto& raw : *b) binds.push_back(parse_bind(raw.get<std::string>()));
  if (auto m = hc.find("Mounts"); m != hc.end() && m->is_array())
    for (const auto& spec : *m) binds.push_back(parse_api_mount(spec));

  std::vector<json> tmpfs;
  if (auto t = hc.find("Tmpfs"); t != hc.end() && t->is_object()) {
    for (const auto& [dst, data] : t->items()) {
      try {
        check_target("tmpfs", dst);
      } catch (const Error& e) {
        throw e.wrap(fmt::format("invalid tmpfs mount '{}'", dst));
      }
      tmpfs.push_back(tmpfs_mount(dst, data.is_string() ? data.get<std::string>() : ""));
    }
  }

  std::vector<json> out;
  std::set<std::string> dests;
  auto claim = [&](const json& m) {
    if (!dests.insert(m["destination"].get<std::string>()).second)
      fail("Duplicate mount point: {}", m["destination"].get<std::string>());
  };
  std::set<std::string> tmpfs_dests;
  for (const auto& t : tmpfs) tmpfs_dests.insert(t["destination"].get<std::string>());
  for (auto& m : binds) {
    if (m["type"] == "bind" && tmpfs_dests.count(m["destination"].get<std::string>())) continue;  // tmpfs wins
    claim(m);
    out.push_back(std::move(m));
  }
  for (auto& t : tmpfs) {
    claim(t);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace berth::engine
