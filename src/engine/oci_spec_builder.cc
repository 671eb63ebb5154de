#include "engine/oci_spec_builder.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/docker_caps.h"
#include "engine/spec_mounts.h"
#include "engine/spec_resources.h"
#include "engine/user_lookup.h"

namespace berth::engine {
namespace {

using nlohmann::json;

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr const char* kInitInContainer = "/sbin/docker-init";
constexpr long long kDefaultShmSize = 64LL * 1024 * 1024;

std::string str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool flag(const json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.is_object()) return out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& e : *it)
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

// Cmd, Entrypoint and Shell accept a string or a list (Go's StrSlice);
// absent and null stay null, which differs from an empty list.
json str_slice(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  if (it->is_string()) return json::array({*it});
  if (!it->is_array()) fail("invalid {}: expected a string or a list of strings", key);
  for (const auto& e : *it)
    if (!e.is_string()) fail("invalid {}: expected a string or a list of strings", key);
  return *it;
}

bool empty_list(const json& j) { return j.is_null() || j.empty(); }

std::string env_key(const std::string& e) { return e.substr(0, e.find('=')); }

// Docker's ReplaceOrAppendEnvValues: each override replaces the default with
// its key in place or is appended; "KEY" without "=" removes KEY.
std::vector<std::string> replace_or_append_env(std::vector<std::string> defaults,
                                               const std::vector<std::string>& overrides) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < defaults.size(); ++i) index[env_key(defaults[i])] = i;
  std::set<size_t> removed;
  for (const auto& o : overrides) {
    auto it = index.find(env_key(o));
    if (o.find('=') == std::string::npos) {
      if (it != index.end()) removed.insert(it->second);
      continue;
    }
    if (it != index.end()) {
      defaults[it->second] = o;
      removed.erase(it->second);
    } else {
      defaults.push_back(o);
    }
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < defaults.size(); ++i)
    if (!removed.count(i)) out.push_back(defaults[i]);
  return out;
}

// ---- security options ----

struct SecurityOptions {
  bool no_new_privileges = false;
  std::string seccomp;  // "", "unconfined", "builtin" or a profile's JSON text
};

SecurityOptions parse_security_opts(const json& hc) {
  SecurityOptions out;
  for (const auto& opt : strings(hc, "SecurityOpt")) {
    if (opt == "no-new-privileges") {
      out.no_new_privileges = true;
      continue;
    }
    if (opt == "disable") continue;  // SELinux labeling off: nothing to do
    size_t sep = opt.find('=');
    if (sep == std::string::npos) sep = opt.find(':');  // the deprecated "key:value" form
    if (sep == std::string::npos) fail("invalid --security-opt 1: \"{}\"", opt);
    std::string key = opt.substr(0, sep), value = opt.substr(sep + 1);
    if (key == "label" || key == "apparmor") continue;  // no SELinux/AppArmor support: accepted, ignored
    if (key == "seccomp") {
      out.seccomp = value;
    } else if (key == "no-new-privileges") {
      if (value == "true" || value == "1" || value == "t" || value == "T" || value == "TRUE" || value == "True")
        out.no_new_privileges = true;
      else if (value == "false" || value == "0" || value == "f" || value == "F" || value == "FALSE" || value == "False")
        out.no_new_privileges = false;
      else
        fail("invalid --security-opt 2: \"{}\"", opt);
    } else {
      fail("invalid --security-opt 2: \"{}\"", opt);
    }
  }
  return out;
}

// ---- namespaces ----

enum class NsMode { kPrivate, kHost, kNone };

// NetworkMode/IpcMode/PidMode/UTSMode values: "host" shares the host's,
// "container:<id>" is not supported yet, anything else listed is private.
NsMode namespace_mode(const json& hc, const char* key, const std::set<std::string>& private_values) {
  std::string v = str(hc, key);
  if (v == "host") return NsMode::kHost;
  if (v.rfind("container:", 0) == 0) fail("{} {}: joining another container's namespace is not supported yet", key, v);
  if (v == "none") return NsMode::kNone;
  if (!private_values.count(v)) {
    std::string what = key == std::string("IpcMode") ? "IPC" : key == std::string("PidMode") ? "PID" : "UTS";
    fail("invalid {} mode: {}", what, v);
  }
  return NsMode::kPrivate;
}

struct Namespaces {
  NsMode network, ipc, pid, uts;
  bool cgroup = false;
};

Namespaces namespaces_of(const json& hc, const SpecHost& host) {
  Namespaces ns{};
  std::string net = str(hc, "NetworkMode");
  if (net == "host") {
    ns.network = NsMode::kHost;
  } else {
    ns.network = net == "none" ? NsMode::kNone : NsMode::kPrivate;  // bridge, default, user networks
  }
  ns.ipc = namespace_mode(hc, "IpcMode", {"", "private", "shareable", "none"});
  ns.pid = namespace_mode(hc, "PidMode", {""});
  ns.uts = namespace_mode(hc, "UTSMode", {""});
  std::string cg = str(hc, "CgroupnsMode");
  if (cg == "private") ns.cgroup = true;
  else if (cg == "") ns.cgroup = host.cgroup2_unified;  // docker's default differs by cgroup version
  else if (cg != "host") fail("invalid cgroup namespace mode: {}", cg);
  return ns;
}

json namespaces_json(const Namespaces& ns, const std::string& netns_path) {
  json out = json::array({{{"type", "mount"}}});
  if (!netns_path.empty()) out.push_back({{"type", "network"}, {"path", netns_path}});  // prepared by the engine
  else if (ns.network != NsMode::kHost) out.push_back({{"type", "network"}});  // "none": a new, empty one
  if (ns.uts != NsMode::kHost) out.push_back({{"type", "uts"}});
  if (ns.pid != NsMode::kHost) out.push_back({{"type", "pid"}});
  if (ns.ipc != NsMode::kHost) out.push_back({{"type", "ipc"}});
  if (ns.cgroup) out.push_back({{"type", "cgroup"}});
  return out;
}

// ---- mounts ----

json default_mounts() {
  auto m = [](const char* dst, const char* type, const char* src, std::vector<std::string> opts) {
    return json{{"destination", dst}, {"type", type}, {"source", src}, {"options", opts}};
  };
  return json::array({
      m("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      m("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      m("/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      m("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      m("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
      m("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      m("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777"}),
  });
}

void remove_option(json* mount, const std::string& opt) {
  json kept = json::array();
  for (const auto& o : (*mount)["options"])
    if (o != opt) kept.push_back(o);
  (*mount)["options"] = kept;
}

bool has_option(const json& mount, const std::string& opt) {
  for (const auto& o : mount["options"])
    if (o == opt) return true;
  return false;
}

json host_bind(const std::string& source, const std::string& destination, bool writable) {
  json opts = json::array({"rbind"});
  if (!writable) opts.push_back("ro");
  opts.push_back("rprivate");
  return {{"destination", destination}, {"type", "bind"}, {"source", source}, {"options", opts}};
}

json build_mounts(const SpecInputs& in, const Namespaces& ns, bool init) {
  const json& hc = in.host_config;
  bool readonly_root = flag(hc, "ReadonlyRootfs");
  bool privileged = flag(hc, "Privileged");

  std::vector<json> user = parse_user_mounts(hc);
  std::set<std::string> user_dests;
  for (const auto& m : user) user_dests.insert(m["destination"].get<std::string>());
  // The engine's network files, unless the user mounted something there.
  for (auto [path, dst] : {std::pair{&in.resolv_conf_path, "/etc/resolv.conf"},
                           {&in.hostname_path, "/etc/hostname"},
                           {&in.hosts_path, "/etc/hosts"}}) {
    if (path->empty() || user_dests.count(dst)) continue;
    user.push_back(host_bind(*path, dst, !readonly_root));
    user_dests.insert(dst);
  }
  // Shared IPC: /dev/shm is a directory the engine (or the host) provides.
  std::string shm_source = ns.ipc == NsMode::kHost ? "/dev/shm" : in.shm_path;
  if (!shm_source.empty() && ns.ipc != NsMode::kNone && !user_dests.count("/dev/shm")) {
    user.push_back(host_bind(shm_source, "/dev/shm", true));
    user_dests.insert("/dev/shm");
  }
  sort_mounts_by_depth(&user);

  long long shm_size = hc.is_object() && hc.contains("ShmSize") && hc["ShmSize"].is_number()
                           ? hc["ShmSize"].get<long long>()
                           : 0;
  if (shm_size < 0) fail("SHM size can not be less than 0");
  if (shm_size == 0) shm_size = kDefaultShmSize;

  json mounts = json::array();
  bool user_dev = user_dests.count("/dev") > 0;
  for (auto m : default_mounts()) {
    std::string dst = m["destination"];
    if (user_dests.count(dst)) continue;
    if (user_dev && dst.rfind("/dev/", 0) == 0) continue;
    if (dst == "/dev/shm") {
      if (ns.ipc == NsMode::kNone) continue;
      m["options"].push_back(fmt::format("size={}", shm_size));
    }
    mounts.push_back(m);
  }
  if (init) {
    if (in.init_path.empty()) fail("HostConfig.Init: no init binary configured (docker-init)");
    mounts.push_back({{"destination", kInitInContainer}, {"type", "bind"}, {"source", in.init_path}, {"options", {"bind", "ro"}}});
  }
  size_t defaults_end = mounts.size();
  for (auto& m : user) mounts.push_back(std::move(m));

  if (readonly_root) {
    // Read-only root: docker's own mounts follow, except the pseudo
    // filesystems a process needs to write to.
    static const std::set<std::string> kStayWritable = {"/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"};
    for (size_t i = 0; i < defaults_end; ++i)
      if (!kStayWritable.count(mounts[i]["destination"]) && !has_option(mounts[i], "ro")) mounts[i]["options"].push_back("ro");
  }
  if (privileged) {
    for (auto& m : mounts)
      if (m["destination"] == "/sys" || m["type"] == "cgroup") remove_option(&m, "ro");
  }
  return mounts;
}

// ---- process ----

std::vector<std::string> process_args(const json& merged, bool init) {
  std::vector<std::string> args;
  for (const char* key : {"Entrypoint", "Cmd"})
    if (merged.contains(key) && merged[key].is_array())
      for (const auto& a : merged[key]) args.push_back(a.get<std::string>());
  if (args.empty()) fail("No command specified");
  if (init) args.insert(args.begin(), {kInitInContainer, "--"});
  return args;
}

json user_json(const ResolvedUser& u) {
  return {{"uid", u.uid}, {"gid", u.gid}, {"additionalGids", u.additional_gids}};
}

json capabilities_json(const std::vector<std::string>& caps, uint32_t uid) {
  // As execve would leave them: a non-root process starts with empty
  // effective and permitted sets; only the bounding set limits it.
  if (uid != 0) return {{"bounding", caps}};
  return {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
}

json seccomp_json(const SecurityOptions& sec, bool privileged, const std::vector<std::string>& caps,
                  const SeccompHost& host) {
  if (sec.seccomp == "unconfined" || privileged) return nullptr;
  json profile = sec.seccomp.empty() || sec.seccomp == "builtin" ? docker_default_seccomp_profile()
                                                                   : parse_seccomp_profile(sec.seccomp);
  return seccomp_profile_to_oci(profile, caps, host);
}

json masked_paths(const json& hc, bool privileged) {
  if (hc.is_object() && hc.contains("MaskedPaths") && hc["MaskedPaths"].is_array()) return hc["MaskedPaths"];
  if (privileged) return json::array();
  return {"/proc/asound",     "/proc/acpi",        "/proc/kcore",      "/proc/keys",
          "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
          "/proc/scsi",       "/sys/firmware",     "/sys/devices/virtual/powercap"};
}

json readonly_paths(const json& hc, bool privileged) {
  if (hc.is_object() && hc.contains("ReadonlyPaths") && hc["ReadonlyPaths"].is_array()) return hc["ReadonlyPaths"];
  if (privileged) return json::array();
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

void check_config(const json& merged) {
  std::string wd = str(merged, "WorkingDir");
  if (!wd.empty() && wd[0] != '/')
    fail("the working directory '{}' is invalid, it needs to be an absolute path", wd);
}

}  // namespace

SpecHost SpecHost::probe() {
  SpecHost h;
  h.cgroup2_unified = path_exists("/sys/fs/cgroup/cgroup.controllers");
  h.swap_limit = h.cgroup2_unified || path_exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  h.ping_group_range = path_exists("/proc/sys/net/ipv4/ping_group_range");
  h.unprivileged_port_start = path_exists("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0) h.hostname = name;
  h.seccomp = SeccompHost::current();
  return h;
}

json merge_image_config(const json& image_config, const json& create_config) {
  json out = create_config.is_object() ? create_config : json::object();
  const json image = image_config.is_object() ? image_config : json::object();
  json cmd = str_slice(create_config, "Cmd"), entrypoint = str_slice(create_config, "Entrypoint");

  if (str(out, "User").empty() && image.contains("User")) out["User"] = image["User"];
  if (str(out, "WorkingDir").empty() && image.contains("WorkingDir")) out["WorkingDir"] = image["WorkingDir"];
  if (str(out, "StopSignal").empty() && image.contains("StopSignal")) out["StopSignal"] = image["StopSignal"];

  // Env: the container's entries first, then the image's whose key it lacks.
  std::vector<std::string> env = strings(create_config, "Env");
  std::set<std::string> keys;
  for (const auto& e : env) keys.insert(env_key(e));
  for (const auto& e : strings(image, "Env"))
    if (!keys.count(env_key(e))) env.push_back(e);
  if (!env.empty() || out.contains("Env")) out["Env"] = env;

  json labels = out.contains("Labels") && out["Labels"].is_object() ? out["Labels"] : json::object();
  if (image.contains("Labels") && image["Labels"].is_object())
    for (const auto& [k, v] : image["Labels"].items())
      if (!labels.contains(k)) labels[k] = v;
  out["Labels"] = labels;

  for (const char* key : {"ExposedPorts", "Volumes"}) {
    json merged = out.contains(key) && out[key].is_object() ? out[key] : json::object();
    if (image.contains(key) && image[key].is_object())
      for (const auto& [k, v] : image[key].items())
        if (!merged.contains(k)) merged[k] = v;
    if (!merged.empty() || out.contains(key)) out[key] = merged.empty() ? json(nullptr) : merged;
  }

  // The Cmd/Entrypoint rule: a container Entrypoint makes the image's Cmd
  // meaningless unless a Cmd is given as well.
  if (empty_list(entrypoint)) {
    if (empty_list(cmd)) {
      cmd = str_slice(image, "Cmd");
      if (image.contains("Shell")) out["Shell"] = image["Shell"];
    }
    if (entrypoint.is_null()) entrypoint = str_slice(image, "Entrypoint");
  }
  // `docker run --entrypoint ""` sends [""]: no entrypoint at all.
  if (entrypoint.is_array() && entrypoint.size() == 1 && entrypoint[0] == "") entrypoint = nullptr;
  out["Cmd"] = cmd;
  out["Entrypoint"] = entrypoint;

  if (image.contains("Healthcheck") && image["Healthcheck"].is_object()) {
    if (!out.contains("Healthcheck") || !out["Healthcheck"].is_object()) {
      out["Healthcheck"] = image["Healthcheck"];
    } else {
      json& hc = out["Healthcheck"];
      if (empty_list(hc.value("Test", json()))) hc["Test"] = image["Healthcheck"].value("Test", json());
      for (const char* key : {"Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"})
        if (hc.value(key, 0LL) == 0 && image["Healthcheck"].contains(key)) hc[key] = image["Healthcheck"][key];
    }
  }
  if (empty_list(out["Entrypoint"]) && empty_list(out["Cmd"])) fail("No command specified");
  return out;
}

std::string effective_hostname(const SpecInputs& in, const SpecHost& host) {
  std::string h = str(in.config, "Hostname");
  if (!h.empty()) return h;
  if (str(in.host_config, "NetworkMode") == "host" && !host.hostname.empty()) return host.hostname;
  return in.id.substr(0, 12);
}

json build_oci_spec(const SpecInputs& in) { return build_oci_spec(in, SpecHost::probe()); }

json build_oci_spec(const SpecInputs& in, const SpecHost& host) {
  if (in.rootfs.empty() || in.rootfs[0] != '/') fail("container rootfs must be an absolute path, got \"{}\"", in.rootfs);
  if (in.id.size() < 12) fail("invalid container id \"{}\"", in.id);
  const json hc = in.host_config.is_object() ? in.host_config : json::object();
  json merged = merge_image_config(in.image_config, in.config);
  check_config(merged);

  bool privileged = flag(hc, "Privileged");
  bool tty = flag(merged, "Tty");
  Namespaces ns = namespaces_of(hc, host);
  SecurityOptions sec = parse_security_opts(hc);
  // docker-init only makes sense as pid 1 of a private pid namespace.
  bool init = flag(hc, "Init") && ns.pid == NsMode::kPrivate;
  std::string hostname = effective_hostname(in, host);

  long long oom = hc.contains("OomScoreAdj") && hc["OomScoreAdj"].is_number() ? hc["OomScoreAdj"].get<long long>() : 0;
  if (oom < -1000 || oom > 1000) fail("Invalid value {}, range for oom score adj is [-1000, 1000]", oom);

  ResolvedUser user = resolve_user_in_rootfs(in.rootfs, str(merged, "User"), strings(hc, "GroupAdd"));
  std::vector<std::string> caps = docker_capabilities(strings(hc, "CapAdd"), strings(hc, "CapDrop"), privileged);

  std::vector<std::string> env_defaults = {std::string("PATH=") + kDefaultPath, "HOSTNAME=" + hostname};
  if (tty) env_defaults.push_back("TERM=xterm");

  json process = {{"terminal", tty},
                  {"user", user_json(user)},
                  {"args", process_args(merged, init)},
                  {"env", replace_or_append_env(env_defaults, strings(merged, "Env"))},
                  {"cwd", str(merged, "WorkingDir").empty() ? "/" : clean_path(str(merged, "WorkingDir"))},
                  {"capabilities", capabilities_json(caps, user.uid)},
                  {"oomScoreAdj", oom}};
  if (sec.no_new_privileges) process["noNewPrivileges"] = true;
  if (json rl = docker_rlimits(hc); !rl.empty()) process["rlimits"] = rl;
  if (tty && hc.contains("ConsoleSize") && hc["ConsoleSize"].is_array() && hc["ConsoleSize"].size() == 2) {
    auto h = hc["ConsoleSize"][0].get<long long>(), w = hc["ConsoleSize"][1].get<long long>();
    if (h > 0 && w > 0) process["consoleSize"] = {{"height", h}, {"width", w}};
  }

  json sysctl = json::object();
  if (ns.network == NsMode::kPrivate || ns.network == NsMode::kNone) {
    // Docker grants these in private network namespaces: ping without
    // CAP_NET_RAW and low ports without CAP_NET_BIND_SERVICE.
    if (host.ping_group_range) sysctl["net.ipv4.ping_group_range"] = "0 2147483647";
    if (host.unprivileged_port_start) sysctl["net.ipv4.ip_unprivileged_port_start"] = "0";
  }
  // Docker sets the NIS domain name through its sysctl, not the spec field.
  if (std::string dn = str(merged, "Domainname"); !dn.empty() && ns.uts != NsMode::kHost) sysctl["kernel.domainname"] = dn;
  if (hc.contains("Sysctls") && hc["Sysctls"].is_object())
    for (const auto& [k, v] : hc["Sysctls"].items()) sysctl[k] = v;

  DeviceSetup devices = docker_devices(hc, privileged);
  json resources = docker_resources(hc, host.swap_limit);
  resources["devices"] = devices.cgroup_rules;

  std::string parent = str(hc, "CgroupParent");
  if (parent.empty()) parent = in.cgroup_parent_default;
  if (!parent.empty() && parent[0] != '/') parent = "/" + parent;

  json linux = {{"namespaces", namespaces_json(ns, in.netns_path)},
                {"cgroupsPath", path_join(parent, in.id)},
                {"resources", resources},
                {"devices", devices.devices},
                {"maskedPaths", masked_paths(hc, privileged)},
                {"readonlyPaths", readonly_paths(hc, privileged)}};
  if (!sysctl.empty()) linux["sysctl"] = sysctl;
  if (json sc = seccomp_json(sec, privileged, caps, host.seccomp); !sc.is_null()) linux["seccomp"] = sc;

  json spec = {{"ociVersion", "1.0.2-dev"},
               {"process", process},
               {"root", {{"path", in.rootfs}, {"readonly", flag(hc, "ReadonlyRootfs")}}},
               {"mounts", build_mounts(in, ns, init)},
               {"linux", linux}};
  if (ns.uts != NsMode::kHost) spec["hostname"] = hostname;
  if (hc.contains("Annotations") && hc["Annotations"].is_object() && !hc["Annotations"].empty())
    spec["annotations"] = hc["Annotations"];
  return spec;
}

}  // namespace berth::engine
