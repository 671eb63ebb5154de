#include "runtime/state_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "runtime/cgroups.h"

namespace berth::runtime {

void validate_container_id(const std::string& id) {
  if (id.empty()) fail("container id cannot be empty");
  if (id == "." || id == "..") fail("invalid container id {:?}", id);
  for (char c : id) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.';
    if (!ok) fail("invalid container id {:?}: only [A-Za-z0-9_+.-] allowed", id);
  }
  if (id.size() > 1024) fail("invalid container id: longer than 1024 characters");
}

std::string StateStore::dir(const std::string& id) const { return root_ + "/" + id; }

void StateStore::create_dir(const std::string& id) const {
  mkdir_all(root_, 0711);
  if (::mkdir(dir(id).c_str(), 0711) != 0) {
    if (errno == EEXIST) fail("container with id exists: {}", id);
    fail_errno("create state directory {}", dir(id));
  }
}

void StateStore::save(const ContainerRecord& r) const {
  nlohmann::json j{{"id", r.id},
                   {"init_process_pid", r.pid},
                   {"init_process_start", r.pid_start_time},
                   {"bundle", r.bundle},
                   {"rootfs", r.rootfs},
                   {"created", r.created},
                   {"owner", r.owner},
                   {"ociVersion", r.oci_version},
                   {"annotations", r.annotations},
                   {"cgroup_paths", r.cgroup_paths},
                   {"new_pid_namespace", r.new_pid_namespace}};
  write_file_replace(dir(r.id) + "/state.json", j.dump(), 0600);
}

ContainerRecord StateStore::load(const std::string& id) const {
  validate_container_id(id);
  std::string text;
  if (!read_file_if_exists(dir(id) + "/state.json", &text)) fail("container {} does not exist", id);
  ContainerRecord r;
  try {
    auto j = nlohmann::json::parse(text);
    r.id = j.at("id").get<std::string>();
    r.pid = j.at("init_process_pid").get<int>();
    r.pid_start_time = j.at("init_process_start").get<unsigned long long>();
    r.bundle = j.at("bundle").get<std::string>();
    r.rootfs = j.at("rootfs").get<std::string>();
    r.created = j.at("created").get<std::string>();
    r.owner = j.value("owner", "");
    r.oci_version = j.value("ociVersion", "");
    r.annotations = j.value("annotations", std::map<std::string, std::string>{});
    r.cgroup_paths = j.value("cgroup_paths", std::map<std::string, std::string>{});
    r.new_pid_namespace = j.value("new_pid_namespace", true);
  } catch (const nlohmann::json::exception& e) {
    fail("container {}: corrupt state.json: {}", id, e.what());
  }
  return r;
}

void StateStore::save_config(const std::string& id, const std::string& config_text) const {
  write_file_replace(dir(id) + "/config.json", config_text, 0600);
}

oci::Spec StateStore::load_config(const std::string& id) const {
  return oci::parse_spec(read_file(dir(id) + "/config.json"), "state " + id + "/config.json");
}

std::vector<std::string> StateStore::list_ids() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(root_.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    fail_errno("open {}", root_);
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (path_exists(root_ + "/" + n + "/state.json")) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

void StateStore::remove(const std::string& id) const { remove_all(dir(id)); }

unsigned long long process_start_time(int pid) {
  std::string stat;
  if (pid <= 0 || !read_file_if_exists("/proc/" + std::to_string(pid) + "/stat", &stat)) return 0;
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  auto fields = split(std::string_view(stat).substr(close + 2), ' ');
  // fields[0] is field 3 (state); start time is field 22.
  if (fields.size() < 20) return 0;
  if (fields[0] == "Z" || fields[0] == "X") return 0;  // exited, not yet reaped
  unsigned long long t = 0;
  parse_uint64(fields[19], &t);
  return t;
}

bool process_alive(int pid, unsigned long long start_time) {
  unsigned long long now = process_start_time(pid);
  return now != 0 && (start_time == 0 || now == start_time);
}

oci::Status container_status(const StateStore& store, const ContainerRecord& rec) {
  if (!process_alive(rec.pid, rec.pid_start_time)) return oci::Status::kStopped;
  if (path_exists(store.fifo_path(rec.id))) return oci::Status::kCreated;
  if (!rec.cgroup_paths.empty()) {
    try {
      if (Cgroup::from_paths(rec.cgroup_paths)->frozen()) return oci::Status::kPaused;
    } catch (const Error&) {
      // A cgroup we cannot read cannot be frozen by us either.
    }
  }
  return oci::Status::kRunning;
}

nlohmann::json state_json(const ContainerRecord& r, oci::Status status) {
  return nlohmann::json{{"ociVersion", r.oci_version},
                        {"id", r.id},
                        {"pid", status == oci::Status::kStopped ? 0 : r.pid},
                        {"status", oci::status_name(status)},
                        {"bundle", r.bundle},
                        {"rootfs", r.rootfs},
                        {"created", r.created},
                        {"owner", r.owner},
                        {"annotations", r.annotations}};
}

oci::State oci_state(const ContainerRecord& r, oci::Status status) {
  oci::State s;
  s.oci_version = r.oci_version;
  s.id = r.id;
  s.status = status;
  s.pid = status == oci::Status::kStopped ? 0 : r.pid;
  s.bundle = r.bundle;
  s.annotations = r.annotations;
  return s;
}

nlohmann::json container_process_state(const std::string& oci_version, int pid, const std::string& metadata,
                                       nlohmann::json state) {
  nlohmann::json j{{"ociVersion", oci_version}, {"fds", {"seccompFd"}}, {"pid", pid}, {"state", std::move(state)}};
  if (!metadata.empty()) j["metadata"] = metadata;
  return j;
}

}  // namespace berth::runtime
