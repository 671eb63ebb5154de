#include "engine/volume_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <regex>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/errors.h"
#include "engine/names.h"
#include "runtime/mount_options.h"
#include "runtime/mountinfo.h"

namespace berth::engine {
namespace {

using nlohmann::json;

constexpr const char* kRecordFile = "volume.json";

// Go's time.RFC3339 of t in the local time zone: docker's CreatedAt.
std::string local_rfc3339(time_t t) {
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  long off = tm.tm_gmtoff;
  if (off == 0) return std::string(buf) + "Z";
  char sign = off < 0 ? '-' : '+';
  off = off < 0 ? -off : off;
  return fmt::format("{}{}{:02}:{:02}", buf, sign, off / 3600, off % 3600 / 60);
}

json optional_map(const std::optional<StringMap>& m) { return m ? json(*m) : json(nullptr); }

std::optional<StringMap> optional_map_from(const json& j) {
  if (!j.is_object()) return std::nullopt;
  StringMap m;
  for (const auto& [k, v] : j.items())
    if (v.is_string()) m[k] = v.get<std::string>();
  return m;
}

// RAMInBytes of docker's go-units: "10m", "1.5g", "512".
bool parse_ram_size(const std::string& s, long long* out) {
  static const std::regex kSize(R"(^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$)");
  std::smatch m;
  if (!std::regex_match(s, m, kSize)) return false;
  double n = std::stod(m[1].str());
  std::string unit = m[3].str();
  const std::string units = "kmgtp";
  if (!unit.empty()) n *= static_cast<double>(1ULL << (10 * (units.find(static_cast<char>(tolower(unit[0]))) + 1)));
  *out = static_cast<long long>(n);
  return true;
}

void add_usage(int dir_fd, std::set<ino_t>* seen, uint64_t* total) {
  DIR* d = ::fdopendir(dir_fd);
  if (!d) {
    ::close(dir_fd);
    return;
  }
  while (struct dirent* de = ::readdir(d)) {
    std::string_view n = de->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(::dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) add_usage(sub, seen, total);
      continue;
    }
    if (st.st_size == 0 || !seen->insert(st.st_ino).second) continue;
    *total += static_cast<uint64_t>(st.st_size);
  }
  ::closedir(d);
}

}  // namespace

bool Volume::needs_mount() const {
  if (!options) return false;
  auto set = [&](const char* k) { return options->count(k) && !options->at(k).empty(); };
  return set("type") || set("device");
}

void validate_volume_name(const std::string& name) {
  static const std::regex kName("[a-zA-Z0-9][a-zA-Z0-9_.-]+");
  if (name.size() == 1)
    throw InvalidArgumentError(fmt::format(
        "create {}: volume name is too short, names should be at least two alphanumeric characters", name));
  if (!std::regex_match(name, kName))
    throw InvalidArgumentError(
        fmt::format("create {}: \"{}\" includes invalid characters for a local volume name, only "
                    "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use "
                    "absolute path",
                    name, name));
}

void validate_local_options(const std::string& name, const StringMap& opts) {
  auto invalid = [&](const std::string& why) { throw InvalidArgumentError(fmt::format("create {}: {}", name, why)); };
  for (const auto& [k, v] : opts)
    if (k != "type" && k != "o" && k != "device" && k != "size") invalid(fmt::format("invalid option: \"{}\"", k));
  if (auto it = opts.find("size"); it != opts.end()) {
    long long size = 0;
    if (!parse_ram_size(it->second, &size)) invalid(fmt::format("invalid size: '{}'", it->second));
    if (size > 0) invalid("quota size requested but no quota support");
  }
  const std::pair<const char*, std::vector<const char*>> kNeeds[] = {
      {"device", {"type"}}, {"o", {"device", "type"}}, {"type", {"device"}}};
  for (const auto& [opt, needs] : kNeeds) {
    if (!opts.count(opt)) continue;
    for (const char* need : needs)
      if (!opts.count(need)) invalid(fmt::format("missing required option: \"{}\"", need));
  }
}

uint64_t disk_usage(const std::string& path) {
  uint64_t total = 0;
  std::set<ino_t> seen;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) add_usage(fd, &seen, &total);
  return total;
}

VolumeStore::VolumeStore(const std::string& data_root, EventLog& events)
    : root_(path_join(data_root, "volumes")), events_(events) {
  mkdir_all(root_, 0701);
  load();
}

std::string VolumeStore::volume_dir(const std::string& name) const { return path_join(root_, name); }

void VolumeStore::load() {
  std::set<std::string> mounted;
  DIR* d = ::opendir(root_.c_str());
  if (!d) fail_errno("open {}", root_);
  while (struct dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    if (name.starts_with(".trash-")) {
      try {
        remove_all(path_join(root_, name));  // a removal cut short
      } catch (const Error& ex) {
        fprintf(stderr, "berthd: %s\n", ex.what());
      }
      continue;
    }
    struct stat st;
    if (name[0] == '.' || ::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
      continue;
    Entry e;
    e.v.name = name;
    e.v.mountpoint = path_join(volume_dir(name), "_data");
    std::string text;
    if (read_file_if_exists(path_join(volume_dir(name), kRecordFile), &text)) {
      try {
        json j = json::parse(text);
        e.v.driver = j.value("Driver", "local");
        e.v.labels = optional_map_from(j.value("Labels", json()));
        e.v.options = optional_map_from(j.value("Options", json()));
        e.v.created_at = j.value("CreatedAt", "");
      } catch (const json::exception& ex) {
        fprintf(stderr, "berthd: volume %s: bad %s: %s\n", name.c_str(), kRecordFile, ex.what());
      }
    }
    // A directory without a record (made by hand): docker's local driver lists it too.
    if (e.v.created_at.empty()) e.v.created_at = local_rfc3339(st.st_ctim.tv_sec);
    volumes_.emplace(name, std::move(e));
  }
  ::closedir(d);
  // Mounts a previous daemon left behind; unmount_unused() drops the ones no running container needs.
  for (const auto& m : runtime::read_mountinfo())
    if (m.mount_point.starts_with(root_ + "/")) mounted.insert(m.mount_point);
  for (auto& [name, e] : volumes_)
    if (e.v.needs_mount() && mounted.count(e.v.mountpoint)) e.mounted = true;
}

void VolumeStore::persist(const Volume& v) const {
  json j = {{"Name", v.name},
            {"Driver", v.driver},
            {"Labels", optional_map(v.labels)},
            {"Options", optional_map(v.options)},
            {"CreatedAt", v.created_at}};
  write_file_atomic(path_join(volume_dir(v.name), kRecordFile), j.dump(), 0600);
}

void VolumeStore::publish(const std::string& action, const std::string& id, std::map<std::string, std::string> attrs) {
  events_.publish({"volume", action, id, std::move(attrs), 0});
}

VolumeStore::Entry& VolumeStore::find_locked(const std::string& name, const std::string& op) {
  auto it = volumes_.find(name);
  if (it == volumes_.end()) throw NotFoundError(fmt::format("{} {}: no such volume", op, name));
  return it->second;
}

Volume VolumeStore::create(const std::string& requested, const CreateOptions& opts) {
  std::string name = requested;
  std::optional<StringMap> labels = opts.labels;
  if (name.empty()) {
    name = random_id();
    if (!labels) labels.emplace();
    (*labels)[kAnonymousVolumeLabel] = "";
  }
  std::string driver = opts.driver.empty() ? "local" : opts.driver;
  if (driver != "local")
    throw NotFoundError(
        fmt::format("create {}: error looking up volume plugin {}: plugin \"{}\" not found", name, driver, driver));
  std::lock_guard lock(mu_);
  if (auto it = volumes_.find(name); it != volumes_.end()) {
    if (!opts.ref.empty()) it->second.refs.insert(opts.ref);
    return it->second.v;
  }
  validate_volume_name(name);
  if (opts.options) validate_local_options(name, *opts.options);
  Entry e;
  e.v.name = name;
  e.v.driver = driver;
  e.v.labels = labels;
  e.v.options = opts.options;
  e.v.created_at = local_rfc3339(::time(nullptr));
  e.v.mountpoint = path_join(volume_dir(name), "_data");
  try {
    mkdir_all(volume_dir(name), 0701);
    mkdir_all(e.v.mountpoint, 0755);
    persist(e.v);
  } catch (const Error& ex) {
    remove_all(volume_dir(name));
    throw ex.wrap(fmt::format("create {}", name));
  }
  if (!opts.ref.empty()) e.refs.insert(opts.ref);
  Volume out = e.v;
  volumes_.emplace(name, std::move(e));
  publish("create", name, {{"driver", driver}});
  return out;
}

Volume VolumeStore::get(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) throw NotFoundError(fmt::format("get {}: no such volume", name));
  return it->second.v;
}

std::vector<Volume> VolumeStore::list() const {
  std::lock_guard lock(mu_);
  std::vector<Volume> out;
  for (const auto& [name, e] : volumes_) out.push_back(e.v);
  return out;
}

void VolumeStore::add_ref(const std::string& name, const std::string& ref) {
  std::lock_guard lock(mu_);
  find_locked(name, "get").refs.insert(ref);
}

void VolumeStore::release(const std::string& name, const std::string& ref) {
  std::lock_guard lock(mu_);
  if (auto it = volumes_.find(name); it != volumes_.end()) it->second.refs.erase(ref);
}

std::set<std::string> VolumeStore::refs(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = volumes_.find(name);
  return it == volumes_.end() ? std::set<std::string>{} : it->second.refs;
}

void VolumeStore::remove(const std::string& name, bool force) {
  std::lock_guard lock(mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) {
    if (force) return;
    throw NotFoundError(fmt::format("get {}: no such volume", name));
  }
  const auto& refs = it->second.refs;
  if (!refs.empty())
    throw ConflictError(fmt::format("remove {}: volume is in use - [{}]", name,
                                    join(std::vector<std::string>(refs.begin(), refs.end()), ", ")));
  remove_locked(name);
}

void VolumeStore::remove_locked(const std::string& name) {
  Entry& e = volumes_.at(name);
  if (e.mounted) unmount_locked(e);
  std::string driver = e.v.driver;
  // Out of the listing at once (load() skips and clears ".trash-" names), so
  // a removal that fails half-way leaves stray files, never half a volume.
  std::string dir = volume_dir(name);
  std::string trash = path_join(root_, ".trash-" + name);
  remove_all(trash);
  if (::rename(dir.c_str(), trash.c_str()) != 0) fail_errno("remove {}", name);
  volumes_.erase(name);
  publish("destroy", name, {{"driver", driver}});
  try {
    remove_all(trash);
  } catch (const Error& ex) {
    fprintf(stderr, "berthd: remove volume %s: %s\n", name.c_str(), ex.what());
  }
}

void VolumeStore::mount_locked(Entry& e) {
  const StringMap& o = *e.v.options;
  auto opt = [&](const char* k) { return o.count(k) ? o.at(k) : std::string(); };
  std::string device = opt("device"), type = opt("type"), data = opt("o");
  if (device.empty()) fail("missing device in volume options");
  runtime::MountOptions mo = runtime::parse_mount_options(data.empty() ? std::vector<std::string>{} : split(data, ','));
  unsigned long flags = mo.flags;
  if (mo.bind) flags |= MS_BIND | (mo.recursive ? MS_REC : 0);
  const std::string& target = e.v.mountpoint;
  if (::mount(device.c_str(), target.c_str(), type.c_str(), flags & ~MS_REMOUNT, mo.data.c_str()) != 0)
    fail_errno("failed to mount local volume: mount {}:{}, data: {}", device, target, mo.data);
  // As moby's mount.Mount: propagation, then read-only for a bind, each a call of its own.
  if (mo.propagation && ::mount("", target.c_str(), nullptr, mo.propagation, nullptr) != 0)
    fail_errno("failed to mount local volume: set propagation of {}", target);
  if (mo.bind && (flags & MS_RDONLY) &&
      ::mount("", target.c_str(), nullptr, flags | MS_REMOUNT, nullptr) != 0)
    fail_errno("failed to mount local volume: remount {} read-only", target);
  e.mounted = true;
}

void VolumeStore::unmount_locked(Entry& e) {
  if (::umount2(e.v.mountpoint.c_str(), 0) != 0 && errno != EINVAL && errno != ENOENT) {
    // Busy (a process outside any container has it open): detach it, as it will go anyway.
    if (::umount2(e.v.mountpoint.c_str(), MNT_DETACH) != 0)
      fprintf(stderr, "berthd: unmount volume %s: %s\n", e.v.name.c_str(), strerror_text(errno).c_str());
  }
  e.mounted = false;
}

std::string VolumeStore::mount(const std::string& name, const std::string& ref) {
  std::lock_guard lock(mu_);
  Entry& e = find_locked(name, "get");
  if (e.v.needs_mount() && !e.mounted) mount_locked(e);
  e.mounts.insert(ref);
  return e.v.mountpoint;
}

bool VolumeStore::unmount(const std::string& name, const std::string& ref) {
  std::lock_guard lock(mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return false;
  Entry& e = it->second;
  auto m = e.mounts.find(ref);
  if (m == e.mounts.end()) return false;
  e.mounts.erase(m);
  if (e.mounts.empty() && e.mounted) unmount_locked(e);
  return true;
}

void VolumeStore::restore_mount(const std::string& name, const std::string& ref) {
  std::lock_guard lock(mu_);
  if (auto it = volumes_.find(name); it != volumes_.end()) it->second.mounts.insert(ref);
}

void VolumeStore::unmount_unused() {
  std::lock_guard lock(mu_);
  for (auto& [name, e] : volumes_)
    if (e.mounted && e.mounts.empty()) unmount_locked(e);
}

VolumeStore::PruneReport VolumeStore::prune(const std::function<bool(const Volume&)>& match) {
  PruneReport report;
  {
    std::lock_guard lock(mu_);
    std::vector<std::string> victims;
    // Volumes with options are skipped, as docker does: their data is elsewhere, nothing would be reclaimed.
    for (const auto& [name, e] : volumes_)
      if (e.refs.empty() && e.v.driver == "local" && !(e.v.options && !e.v.options->empty()) && match(e.v))
        victims.push_back(name);
    for (const auto& name : victims) {
      uint64_t size = disk_usage(volumes_.at(name).v.mountpoint);
      try {
        remove_locked(name);
      } catch (const Error& ex) {
        fprintf(stderr, "berthd: prune volume %s: %s\n", name.c_str(), ex.what());
        continue;
      }
      report.deleted.push_back(name);
      report.reclaimed += size;
    }
  }
  publish("prune", "", {{"reclaimed", std::to_string(report.reclaimed)}});
  return report;
}

}  // namespace berth::engine
