#include "base/clock.h"
#include "api/system_routes.h"

#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <thread>

#include "base/fs.h"
#include "base/strings.h"

namespace berth::api {

namespace {

std::string kernel_version() {
  struct utsname u;
  return ::uname(&u) == 0 ? u.release : "";
}

std::string hostname() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? buf : "";
}

// Reads KEY="value" from /etc/os-release (falling back to /usr/lib/os-release).
std::string os_release(const std::string& key) {
  std::string text;
  if (!read_file_if_exists("/etc/os-release", &text) && !read_file_if_exists("/usr/lib/os-release", &text)) {
    return "";
  }
  for (const std::string& line : split(text, '\n')) {
    if (!line.starts_with(key + "=")) continue;
    std::string v(trim(std::string_view(line).substr(key.size() + 1)));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      v = v.substr(1, v.size() - 2);
    }
    return v;
  }
  return "";
}

std::string cgroup_version() {
  struct statfs s;
  // CGROUP2_SUPER_MAGIC on /sys/fs/cgroup means the unified hierarchy.
  if (::statfs("/sys/fs/cgroup", &s) == 0 && s.f_type == 0x63677270) return "2";
  return "1";
}

// The name dockerd's overlay2 driver reports as "Backing Filesystem".
std::string backing_fs(const std::string& path) {
  struct statfs s;
  if (::statfs(path.c_str(), &s) != 0) return "<unknown>";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53: return "extfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794c7630: return "overlayfs";
    case 0x2fc12fc1: return "zfs";
    case 0x6969: return "nfs";
    default: return fmt::format("<unknown 0x{:x}>", static_cast<unsigned long>(s.f_type));
  }
}

long long mem_total() {
  struct sysinfo si;
  return ::sysinfo(&si) == 0 ? static_cast<long long>(si.totalram) * si.mem_unit : 0;
}

bool read_flag(const char* path) {
  std::string v;
  return read_file_if_exists(path, &v) && trim(v) == "1";
}


}  // namespace

std::string load_or_create_engine_id(const std::string& data_root) {
  std::string path = path_join(data_root, "engine-id");
  std::string id;
  if (read_file_if_exists(path, &id) && !trim(id).empty()) return std::string(trim(id));
  id = std::string(trim(read_file("/proc/sys/kernel/random/uuid")));
  write_file_atomic(path, id + "\n", 0600);
  return id;
}

nlohmann::json version_json() {
  std::string kernel = kernel_version();
  std::string build_time = __DATE__ " " __TIME__;
  nlohmann::json details = {
      {"ApiVersion", kApiVersion}, {"Arch", "amd64"},          {"BuildTime", build_time},
      {"Experimental", "false"},   {"GitCommit", "unknown"},   {"GoVersion", "n/a"},
      {"KernelVersion", kernel},   {"MinAPIVersion", kMinApiVersion}, {"Os", "linux"},
  };
  return {
      {"Platform", {{"Name", "Berth Engine"}}},
      {"Components", nlohmann::json::array({{{"Name", "Engine"}, {"Version", kServerVersion}, {"Details", details}}})},
      {"Version", kServerVersion},
      {"ApiVersion", kApiVersion},
      {"MinAPIVersion", kMinApiVersion},
      {"GitCommit", "unknown"},
      {"GoVersion", "n/a"},
      {"Os", "linux"},
      {"Arch", "amd64"},
      {"KernelVersion", kernel},
      {"BuildTime", build_time},
  };
}

nlohmann::json info_json(const DaemonInfo& d) {
  nlohmann::json runtimes = nlohmann::json::object();
  for (const auto& [name, rt] : d.runtimes) {
    nlohmann::json r = {{"path", rt.path}};
    if (!rt.args.empty()) r["runtimeArgs"] = rt.args;
    runtimes[name] = r;
  }
  std::string cgv = cgroup_version();
  nlohmann::json security = nlohmann::json::array({"name=seccomp,profile=default"});
  if (cgv == "2") security.push_back("name=cgroupns");
  nlohmann::json warnings = nlohmann::json::array();
  bool ipv4_forward = read_flag("/proc/sys/net/ipv4/ip_forward");
  if (!ipv4_forward) warnings.push_back("WARNING: IPv4 forwarding is disabled");
  std::string os_name = os_release("PRETTY_NAME");
  return {
      {"ID", d.id},
      {"Containers", 0},
      {"ContainersRunning", 0},
      {"ContainersPaused", 0},
      {"ContainersStopped", 0},
      {"Images", 0},
      {"Driver", "overlay2"},
      {"DriverStatus",
       nlohmann::json::array({nlohmann::json::array({"Backing Filesystem", backing_fs(d.data_root)}), nlohmann::json::array({"Supports d_type", "true"}),
                             nlohmann::json::array({"Native Overlay Diff", "true"}), nlohmann::json::array({"userxattr", "false"})})},
      {"Plugins",
       {{"Volume", nlohmann::json::array({"local"})},
        {"Network", nlohmann::json::array({"bridge", "host", "null"})},
        {"Authorization", nullptr},
        {"Log", nlohmann::json::array({"json-file"})}}},
      {"MemoryLimit", true},
      {"SwapLimit", cgv == "2"},
      {"KernelMemory", false},
      {"KernelMemoryTCP", false},
      {"CpuCfsPeriod", true},
      {"CpuCfsQuota", true},
      {"CPUShares", true},
      {"CPUSet", true},
      {"PidsLimit", true},
      {"IPv4Forwarding", ipv4_forward},
      {"BridgeNfIptables", read_flag("/proc/sys/net/bridge/bridge-nf-call-iptables")},
      {"BridgeNfIp6tables", read_flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables")},
      {"Debug", d.debug},
      {"NFd", 0},
      {"OomKillDisable", cgv != "2"},
      {"NGoroutines", 0},
      {"SystemTime", now_rfc3339_nano()},
      {"LoggingDriver", "json-file"},
      {"CgroupDriver", "cgroupfs"},
      {"CgroupVersion", cgv},
      {"NEventsListener", 0},
      {"KernelVersion", kernel_version()},
      {"OperatingSystem", os_name.empty() ? "Linux" : os_name},
      {"OSVersion", os_release("VERSION_ID")},
      {"OSType", "linux"},
      {"Architecture", "x86_64"},
      {"IndexServerAddress", "https://index.docker.io/v1/"},
      {"RegistryConfig",
       {{"AllowNondistributableArtifactsCIDRs", nlohmann::json::array()},
        {"AllowNondistributableArtifactsHostnames", nlohmann::json::array()},
        {"InsecureRegistryCIDRs", nlohmann::json::array({"127.0.0.0/8"})},
        {"IndexConfigs",
         {{"docker.io",
           {{"Name", "docker.io"}, {"Mirrors", nlohmann::json::array()}, {"Secure", true}, {"Official", true}}}}},
        {"Mirrors", nlohmann::json::array()}}},
      {"NCPU", std::thread::hardware_concurrency()},
      {"MemTotal", mem_total()},
      {"GenericResources", nullptr},
      {"DockerRootDir", d.data_root},
      {"HttpProxy", ""},
      {"HttpsProxy", ""},
      {"NoProxy", ""},
      {"Name", hostname()},
      {"Labels", nlohmann::json::array()},
      {"ExperimentalBuild", false},
      {"ServerVersion", kServerVersion},
      {"Runtimes", runtimes},
      {"DefaultRuntime", d.default_runtime},
      {"Swarm",
       {{"NodeID", ""},
        {"NodeAddr", ""},
        {"LocalNodeState", "inactive"},
        {"ControlAvailable", false},
        {"Error", ""},
        {"RemoteManagers", nullptr}}},
      {"LiveRestoreEnabled", false},
      {"Isolation", ""},
      {"InitBinary", ""},
      {"ContainerdCommit", {{"ID", ""}, {"Expected", ""}}},
      {"RuncCommit", {{"ID", ""}, {"Expected", ""}}},
      {"InitCommit", {{"ID", ""}, {"Expected", ""}}},
      {"SecurityOptions", security},
      {"Warnings", warnings},
  };
}

void add_system_routes(Router& router, const DaemonInfo& d) {
  Handler ping = [](Request& req, Response& res) {
    res.set_header("Cache-Control", "no-cache, no-store, must-revalidate");
    res.set_header("Pragma", "no-cache");
    res.set_header("Builder-Version", "1");
    res.set_header("Swarm", "inactive");
    // berth's CLI may name a local build context instead of sending it (build_routes.h).
    res.set_header("Berth-Build-Context", "path");
    // dockerd answers HEAD with an explicit "Content-Length: 0".
    res.send(200, "text/plain; charset=utf-8", req.method() == "HEAD" ? "" : "OK");
  };
  router.add("GET", "/_ping", ping);
  router.add("HEAD", "/_ping", ping);
  router.add("GET", "/version", [](Request&, Response& res) { res.send_json(200, version_json()); });
  router.add("GET", "/info", [&d](Request&, Response& res) {
    nlohmann::json info = info_json(d);
    if (d.counts) d.counts(info);
    res.send_json(200, info);
  });
}

}  // namespace berth::api
