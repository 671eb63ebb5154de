#include "engine/spec_mounts.h"

#include <algorithm>
#include <map>
#include <optional>
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
  if (clean_path(target) == "/") mount_config_error(type, "invalid specification: destination can't be '/'");
  if (target[0] != '/') mount_config_error(type, fmt::format("invalid mount path: '{}' mount path must be absolute", target));
}

bool present(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

json object_field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : json::object();
}

// Checks one Mounts-style spec as docker's validateMountConfig does and
// turns it into a mount point. bind_source_must_exist: --mount (not -v).
MountPoint mount_point_from_spec(const json& spec, bool bind_source_must_exist) {
  std::string type = spec.value("Type", "");
  std::string source = spec.value("Source", "");
  std::string target = spec.value("Target", "");
  bool read_only = spec.value("ReadOnly", false);
  check_target(type, target);
  MountPoint mp;
  mp.type = type;
  mp.destination = clean_path(target);
  mp.rw = !read_only;
  mp.spec = spec;
  if (type == "bind") {
    if (source.empty()) mount_config_error(type, "field Source must not be empty");
    json bo = object_field(spec, "BindOptions");
    std::string propagation = bo.value("Propagation", "");
    if (!propagation.empty() && !propagation_modes().count(propagation))
      mount_config_error(type, fmt::format("invalid propagation mode: {}", propagation));
    if (present(spec, "VolumeOptions")) mount_config_error(type, "field VolumeOptions must not be specified");
    if (present(spec, "TmpfsOptions")) mount_config_error(type, "field TmpfsOptions must not be specified");
    if (source[0] != '/') mount_config_error(type, fmt::format("invalid mount path: '{}' mount path must be absolute", source));
    if (bind_source_must_exist && !bo.value("CreateMountpoint", false) && !path_exists(source))
      mount_config_error(type, fmt::format("bind source path does not exist: {}", source));
    mp.source = clean_path(source);
    mp.propagation = propagation.empty() ? "rprivate" : propagation;
  } else if (type == "volume") {
    if (present(spec, "BindOptions")) mount_config_error(type, "field BindOptions must not be specified");
    if (present(spec, "TmpfsOptions")) mount_config_error(type, "field TmpfsOptions must not be specified");
    if (read_only && source.empty())
      mount_config_error(type, "must not set ReadOnly mode when using anonymous volumes");
    json vo = object_field(spec, "VolumeOptions");
    if (!vo.value("Subpath", "").empty()) mount_config_error(type, "volume subpaths are not supported");
    mp.name = source;
    mp.driver = object_field(vo, "DriverConfig").value("Name", "");
    mp.copy_data = !vo.value("NoCopy", false);
  } else if (type == "tmpfs") {
    if (present(spec, "BindOptions")) mount_config_error(type, "field BindOptions must not be specified");
    if (present(spec, "VolumeOptions")) mount_config_error(type, "field VolumeOptions must not be specified");
    if (!source.empty()) mount_config_error(type, "field Source must not be specified");
    if (object_field(spec, "TmpfsOptions").value("SizeBytes", 0LL) < 0) mount_config_error(type, "invalid tmpfs size");
  } else {
    mount_config_error(type, "mount type unknown");
  }
  return mp;
}

// "-v src:dst[:mode]", or just "dst" (an anonymous volume).
MountPoint parse_bind(const std::string& raw) {
  auto invalid_spec = [&] { fail("invalid volume specification: '{}'", raw); };
  if (std::count(raw.begin(), raw.end(), ':') > 2) invalid_spec();
  auto parts = split(raw, ':');
  if (parts[0].empty()) invalid_spec();
  std::string source, target, mode;
  if (parts.size() == 1) {
    target = parts[0];
  } else if (parts.size() == 2) {
    if (parse_bind_mode(parts[1])) invalid_spec();  // "/foo:rw": a volume cannot take a mode
    source = parts[0];
    target = parts[1];
  } else {
    source = parts[0];
    target = parts[1];
    mode = parts[2];
  }
  auto m = parse_bind_mode(mode);
  if (!m) fail("invalid mode: {}", mode);
  bool bind = !source.empty() && source[0] == '/';
  json spec = {{"Type", bind ? "bind" : "volume"}, {"Target", target}};
  if (!source.empty()) spec["Source"] = source;
  if (m->read_only) spec["ReadOnly"] = true;
  if (m->nocopy) spec["VolumeOptions"] = {{"NoCopy", true}};
  if (!m->propagation.empty()) spec["BindOptions"] = {{"Propagation", m->propagation}};
  // docker -v creates a missing host directory; --mount does not.
  if (bind) spec["BindOptions"]["CreateMountpoint"] = true;
  try {
    MountPoint mp = mount_point_from_spec(spec, false);
    mp.mode = mode;
    return mp;
  } catch (const Error& e) {
    throw e.wrap(fmt::format("invalid volume specification: '{}'", raw));
  }
}

MountPoint parse_api_mount(const json& m) {
  if (!m.is_object()) fail("invalid mount config: expected an object, got {}", m.dump());
  return mount_point_from_spec(m, true);
}

// "size=64m" from TmpfsOptions.SizeBytes: the largest unit that divides it.
std::string tmpfs_size_option(long long bytes) {
  for (auto [suffix, unit] : {std::pair{"g", 1LL << 30}, {"m", 1LL << 20}, {"k", 1LL << 10}})
    if (bytes % unit == 0) return fmt::format("size={}{}", bytes / unit, suffix);
  return fmt::format("size={}", bytes);
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

// A mount point as the OCI mount it stands for.
json oci_mount(const MountPoint& mp) {
  if (mp.type == "bind") {
    json bo = object_field(mp.spec, "BindOptions");
    if (!path_exists(mp.source)) {
      if (!bo.value("CreateMountpoint", false))
        mount_config_error("bind", fmt::format("bind source path does not exist: {}", mp.source));
      mkdir_all(mp.source);
    }
    return bind_mount(mp.source, mp.destination, !mp.rw, mp.propagation, !bo.value("NonRecursive", false));
  }
  if (mp.type == "tmpfs") {
    std::vector<std::string> data;
    if (!mp.rw) data.push_back("ro");
    json to = object_field(mp.spec, "TmpfsOptions");
    if (long long mode = to.value("Mode", 0LL); mode != 0) data.push_back(fmt::format("mode={:o}", mode));
    if (long long size = to.value("SizeBytes", 0LL); size != 0) data.push_back(tmpfs_size_option(size));
    return tmpfs_mount(mp.destination, join(data, ","));
  }
  // A volume nobody resolved: only its place is known.
  json opts = json::array();
  if (!mp.rw) opts.push_back("ro");
  return {{"destination", mp.destination}, {"type", "volume"}, {"source", mp.name}, {"options", opts}};
}

std::set<std::string> tmpfs_destinations(const json& hc) {
  std::set<std::string> out;
  if (auto t = hc.find("Tmpfs"); t != hc.end() && t->is_object())
    for (const auto& [dst, data] : t->items()) out.insert(clean_path(dst));
  return out;
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

void to_json(json& j, const MountPoint& m) {
  j = {{"type", m.type},   {"name", m.name}, {"source", m.source},           {"destination", m.destination},
          {"driver", m.driver}, {"mode", m.mode}, {"rw", m.rw},               {"propagation", m.propagation},
          {"copy_data", m.copy_data}, {"spec", m.spec}};
}

void from_json(const json& j, MountPoint& m) {
  m = MountPoint{};
  m.type = j.at("type").get<std::string>();
  m.name = j.value("name", "");
  m.source = j.value("source", "");
  m.destination = j.at("destination").get<std::string>();
  m.driver = j.value("driver", "");
  m.mode = j.value("mode", "");
  m.rw = j.value("rw", true);
  m.propagation = j.value("propagation", "");
  m.copy_data = j.value("copy_data", false);
  m.spec = j.value("spec", json::object());
}

std::pair<std::string, bool> parse_volumes_from(const std::string& spec) {
  if (spec.empty()) fail("volumes-from specification cannot be an empty string");
  auto colon = spec.find(':');
  if (colon == std::string::npos) return {spec, true};
  std::string mode = spec.substr(colon + 1);
  // The volumes keep their propagation, and nothing is copied.
  auto m = parse_bind_mode(mode);
  if (!m || !m->propagation.empty() || m->nocopy) fail("invalid mode: {}", mode);
  return {spec.substr(0, colon), !m->read_only};
}

MountPoint inherit_mount_point(const MountPoint& m, bool rw) {
  MountPoint out = m;
  out.rw = m.rw && rw;
  out.mode.clear();
  out.copy_data = false;
  return out;
}

std::vector<MountPoint> plan_mount_points(const json& config, const json& hc, const std::vector<MountPoint>& inherited) {
  std::map<std::string, MountPoint> points;
  for (const auto& m : inherited) points[m.destination] = m;
  std::set<std::string> tmpfs = tmpfs_destinations(hc);
  std::set<std::string> claimed;  // by Binds and Mounts
  auto add = [&](MountPoint mp, bool clashes_with_tmpfs) {
    if (claimed.count(mp.destination) || (clashes_with_tmpfs && tmpfs.count(mp.destination)))
      fail("Duplicate mount point: {}", mp.destination);
    claimed.insert(mp.destination);
    if (mp.type == "volume" && mp.mode.empty()) mp.mode = "z";
    points[mp.destination] = std::move(mp);
  };
  if (auto b = hc.find("Binds"); b != hc.end() && b->is_array())
    for (const auto& raw : *b) add(parse_bind(raw.get<std::string>()), true);
  if (auto m = hc.find("Mounts"); m != hc.end() && m->is_array())
    for (const auto& spec : *m) add(parse_api_mount(spec), false);
  if (auto v = config.find("Volumes"); v != config.end() && v->is_object()) {
    for (const auto& [path, unused] : v->items()) {
      check_target("volume", path);
      std::string dst = clean_path(path);
      if (points.count(dst) || tmpfs.count(dst)) continue;
      MountPoint mp;
      mp.type = "volume";
      mp.destination = dst;
      mp.copy_data = true;
      mp.spec = {{"Type", "volume"}, {"Target", dst}};
      points[dst] = std::move(mp);
    }
  }
  std::vector<MountPoint> out;
  for (auto& [dst, mp] : points) out.push_back(std::move(mp));
  return out;
}

json host_config_for_spec(const json& hc_in, const std::vector<MountPoint>& points) {
  json hc = hc_in.is_object() ? hc_in : json::object();
  std::set<std::string> tmpfs = tmpfs_destinations(hc);
  json mounts = json::array();
  for (const auto& p : points) {
    if (tmpfs.count(p.destination)) continue;
    if (p.type == "tmpfs") {
      mounts.push_back(p.spec);
      continue;
    }
    if (p.source.empty()) fail("volume for {} has not been created", p.destination);
    json bo = object_field(p.spec, "BindOptions");
    json opts = json::object();
    if (!p.propagation.empty()) opts["Propagation"] = p.propagation;
    if (p.type == "bind") {
      if (bo.value("NonRecursive", false)) opts["NonRecursive"] = true;
      if (bo.value("CreateMountpoint", false)) opts["CreateMountpoint"] = true;
    }
    mounts.push_back({{"Type", "bind"}, {"Source", p.source}, {"Target", p.destination}, {"ReadOnly", !p.rw},
                      {"BindOptions", opts}});
  }
  hc.erase("Binds");
  hc["Mounts"] = mounts;
  return hc;
}

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
    for (const auto& raw : *b) binds.push_back(oci_mount(parse_bind(raw.get<std::string>())));
  if (auto m = hc.find("Mounts"); m != hc.end() && m->is_array())
    for (const auto& spec : *m) binds.push_back(oci_mount(parse_api_mount(spec)));

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
    if (m["type"] != "tmpfs" && tmpfs_dests.count(m["destination"].get<std::string>())) continue;  // tmpfs wins
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
