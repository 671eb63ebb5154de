#include "cli/container_options.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>

#include "base/strings.h"
#include "cli/network_options.h"
#include "cli/units.h"

namespace berth::cli {

using json = nlohmann::json;

void add_container_flags(FlagSet& f) {
  f.add_list("a,attach", "Attach to STDIN, STDOUT or STDERR");
  f.add_list("add-host", "Add a custom host-to-IP mapping (host:ip)");
  f.add_value("blkio-weight", "Block IO (relative weight), between 10 and 1000, or 0 to disable", "0");
  f.add_list("cap-add", "Add Linux capabilities");
  f.add_list("cap-drop", "Drop Linux capabilities");
  f.add_value("cgroupns", "Cgroup namespace to use (host|private)");
  f.add_value("cgroup-parent", "Optional parent cgroup for the container");
  f.add_value("cidfile", "Write the container ID to the file");
  f.add_value("cpu-period", "Limit CPU CFS (Completely Fair Scheduler) period", "0");
  f.add_value("cpu-quota", "Limit CPU CFS (Completely Fair Scheduler) quota", "0");
  f.add_value("c,cpu-shares", "CPU shares (relative weight)", "0");
  f.add_value("cpus", "Number of CPUs");
  f.add_value("cpuset-cpus", "CPUs in which to allow execution (0-3, 0,1)");
  f.add_value("cpuset-mems", "MEMs in which to allow execution (0-3, 0,1)");
  f.add_list("device", "Add a host device to the container");
  f.add_list("dns", "Set custom DNS servers");
  f.add_list("dns-option", "Set DNS options");
  f.add_list("dns-search", "Set custom DNS search domains");
  f.add_value("domainname", "Container NIS domain name");
  f.add_value("entrypoint", "Overwrite the default ENTRYPOINT of the image");
  f.add_list("e,env", "Set environment variables");
  f.add_list("env-file", "Read in a file of environment variables");
  f.add_list("expose", "Expose a port or a range of ports");
  f.add_list("group-add", "Add additional groups to join");
  f.add_value("health-cmd", "Command to run to check health");
  f.add_value("health-interval", "Time between running the check (ms|s|m|h) (default 0s)");
  f.add_value("health-retries", "Consecutive failures needed to report unhealthy", "0");
  f.add_value("health-start-period", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)");
  f.add_value("health-timeout", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)");
  f.add_value("h,hostname", "Container host name");
  f.add_bool("init", "Run an init inside the container that forwards signals and reaps processes");
  f.add_bool("i,interactive", "Keep STDIN open even if not attached");
  f.add_value("ip", "IPv4 address (e.g., 172.30.100.104)");
  f.add_value("ip6", "IPv6 address (e.g., 2001:db8::33)");
  f.add_value("ipc", "IPC mode to use");
  f.add_list("l,label", "Set meta data on a container");
  f.add_list("link", "Add link to another container");
  f.add_list("link-local-ip", "Container IPv4/IPv6 link-local addresses");
  f.add_value("log-driver", "Logging driver for the container");
  f.add_list("log-opt", "Log driver options");
  f.add_value("m,memory", "Memory limit");
  f.add_value("mac-address", "Container MAC address (e.g., 92:d0:c6:0a:29:33)");
  f.add_value("memory-reservation", "Memory soft limit");
  f.add_value("memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap");
  f.add_list("mount", "Attach a filesystem mount to the container");
  f.add_value("name", "Assign a name to the container");
  f.add_list("net", "Connect a container to a network (same as --network)");
  f.add_list("net-alias", "Add network-scoped alias for the container (same as --network-alias)");
  f.add_list("network", "Connect a container to a network");
  f.add_list("network-alias", "Add network-scoped alias for the container");
  f.add_bool("no-healthcheck", "Disable any container-specified HEALTHCHECK");
  f.add_bool("oom-kill-disable", "Disable OOM Killer");
  f.add_value("oom-score-adj", "Tune host's OOM preferences (-1000 to 1000)", "0");
  f.add_value("pid", "PID namespace to use");
  f.add_value("pids-limit", "Tune container pids limit (set -1 for unlimited)", "0");
  f.add_value("platform", "Set platform if server is multi-platform capable");
  f.add_bool("privileged", "Give extended privileges to this container");
  f.add_list("p,publish", "Publish a container's port(s) to the host");
  f.add_bool("P,publish-all", "Publish all exposed ports to random ports");
  f.add_value("pull", "Pull image before running (\"always\", \"missing\", \"never\")", "missing");
  f.add_bool("q,quiet", "Suppress the pull output");
  f.add_bool("read-only", "Mount the container's root filesystem as read only");
  f.add_value("restart", "Restart policy to apply when a container exits", "no");
  f.add_bool("rm", "Automatically remove the container and its associated anonymous volumes when it exits");
  f.add_value("runtime", "Runtime to use for this container");
  f.add_list("security-opt", "Security Options");
  f.add_value("shm-size", "Size of /dev/shm");
  f.add_value("stop-signal", "Signal to stop the container");
  f.add_value("stop-timeout", "Timeout (in seconds) to stop a container", "0");
  f.add_list("storage-opt", "Storage driver options for the container");
  f.add_list("sysctl", "Sysctl options");
  f.add_list("tmpfs", "Mount a tmpfs directory");
  f.add_bool("t,tty", "Allocate a pseudo-TTY");
  f.add_list("ulimit", "Ulimit options");
  f.add_value("u,user", "Username or UID (format: <name|uid>[:<group|gid>])");
  f.add_value("userns", "User namespace to use");
  f.add_value("uts", "UTS namespace to use");
  f.add_list("v,volume", "Bind mount a volume");
  f.add_value("volume-driver", "Optional volume driver for the container");
  f.add_list("volumes-from", "Mount volumes from the specified container(s)");
  f.add_value("w,workdir", "Working directory inside the container");
}

namespace {

[[noreturn]] void bad_flag(const FlagSet&, std::string_view shown, const std::string& v, const std::string& why) {
  fail("invalid argument \"{}\" for \"{}\" flag: {}", v, shown, why);
}

int64_t int_flag(const FlagSet& f, std::string_view name, std::string_view shown) {
  long long v;
  const std::string& s = f.value(name);
  if (!parse_int64(s, &v))
    bad_flag(f, shown, s, fmt::format("strconv.ParseInt: parsing \"{}\": invalid syntax", s));
  return v;
}

int64_t mem_flag(const FlagSet& f, std::string_view name, std::string_view shown) {
  const std::string& s = f.value(name);
  if (s.empty()) return 0;
  if (s == "-1") return -1;
  try {
    return ram_in_bytes(s);
  } catch (const Error& e) {
    bad_flag(f, shown, s, e.what());
  }
}

int64_t duration_flag(const FlagSet& f, std::string_view name) {
  const std::string& s = f.value(name);
  if (s.empty()) return 0;
  try {
    return parse_go_duration(s);
  } catch (const Error& e) {
    bad_flag(f, fmt::format("--{}", name), s, e.what());
  }
}

std::string resolve_env(const std::string& kv, const EnvLookup& lookup) {
  if (kv.find('=') != std::string::npos) return kv;
  if (auto v = lookup(kv)) return kv + "=" + *v;
  return kv;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string absolute(const std::string& path) {
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) return path;
  std::string out = cwd;
  for (const std::string& part : split(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      size_t slash = out.rfind('/');
      out.resize(slash == 0 ? 1 : slash);
    } else {
      out += (out.back() == '/' ? "" : "/") + part;
    }
  }
  return out;
}

// docker's MountOpt.Set: one --mount value as a HostConfig.Mounts entry.
json parse_mount(const std::string& spec) {
  std::string type = "volume", source, target, consistency;
  bool read_only = false;
  std::optional<json> bind, volume, tmpfs, image;
  auto opts = [](std::optional<json>& o) -> json& {
    if (!o) o = json::object();
    return *o;
  };
  auto volume_opts = [&]() -> json& {
    json& v = opts(volume);
    if (!v.contains("DriverConfig")) v["DriverConfig"] = json::object();
    return v;
  };
  auto boolean = [](const std::string& key, const std::string& val) {
    bool b;
    if (!parse_bool(val, &b)) fail("invalid value for {}: {}", key, val);
    return b;
  };
  auto set_kv = [](json& target, const std::string& kv) {
    size_t eq = kv.find('=');
    std::string k = kv.substr(0, eq);
    if (!k.empty()) target[k] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  };
  for (const std::string& field : csv_fields(spec)) {
    size_t eq = field.find('=');
    std::string key = lower(field.substr(0, eq));
    std::string val = eq == std::string::npos ? "" : field.substr(eq + 1);
    if (eq == std::string::npos) {
      if (key == "readonly" || key == "ro") read_only = true;
      else if (key == "volume-nocopy") volume_opts()["NoCopy"] = true;
      else if (key == "bind-nonrecursive") opts(bind)["NonRecursive"] = true;
      else fail("invalid field '{}' must be a key=value pair", field);
      continue;
    }
    if (key == "type") {
      type = lower(val);
    } else if (key == "source" || key == "src") {
      source = val == "." || val.starts_with("./") ? absolute(val) : val;
    } else if (key == "target" || key == "dst" || key == "destination") {
      target = val;
    } else if (key == "readonly" || key == "ro") {
      read_only = boolean(key, val);
    } else if (key == "consistency") {
      consistency = lower(val);
    } else if (key == "bind-propagation") {
      opts(bind)["Propagation"] = lower(val);
    } else if (key == "bind-nonrecursive") {
      if (boolean(key, val)) opts(bind)["NonRecursive"] = true;
      else opts(bind);
    } else if (key == "bind-recursive") {
      json& b = opts(bind);
      if (val == "disabled") b["NonRecursive"] = true;
      else if (val == "writable") b["ReadOnlyNonRecursive"] = true;
      else if (val == "readonly") b["ReadOnlyForceRecursive"] = true;
      else if (val != "enabled")
        fail("invalid value for {}: {} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")", key, val);
    } else if (key == "volume-subpath") {
      volume_opts()["Subpath"] = val;
    } else if (key == "volume-nocopy") {
      if (boolean(key, val)) volume_opts()["NoCopy"] = true;
      else volume_opts();
    } else if (key == "volume-label") {
      json& v = volume_opts();
      if (!v.contains("Labels")) v["Labels"] = json::object();
      set_kv(v["Labels"], val);
    } else if (key == "volume-driver") {
      volume_opts()["DriverConfig"]["Name"] = val;
    } else if (key == "volume-opt") {
      json& d = volume_opts()["DriverConfig"];
      if (!d.contains("Options")) d["Options"] = json::object();
      set_kv(d["Options"], val);
    } else if (key == "image-subpath") {
      opts(image)["Subpath"] = val;
    } else if (key == "tmpfs-size") {
      try {
        opts(tmpfs)["SizeBytes"] = ram_in_bytes(val);
      } catch (const Error&) {
        fail("invalid value for {}: {}", key, val);
      }
    } else if (key == "tmpfs-mode") {
      unsigned long mode = 0;
      bool ok = !val.empty() && val.size() <= 11 &&
                std::all_of(val.begin(), val.end(), [](char c) { return c >= '0' && c <= '7'; });
      if (ok) mode = std::stoul(val, nullptr, 8);
      if (!ok || mode > 0xffffffffUL) fail("invalid value for {}: {}", key, val);
      opts(tmpfs)["Mode"] = mode;
    } else {
      fail("unexpected key '{}' in '{}'", key, field);
    }
  }
  if (type.empty()) fail("type is required");
  if (target.empty()) fail("target is required");
  if (volume && type != "volume") fail("cannot mix 'volume-*' options with mount type '{}'", type);
  if (bind && type != "bind") fail("cannot mix 'bind-*' options with mount type '{}'", type);
  if (tmpfs && type != "tmpfs") fail("cannot mix 'tmpfs-*' options with mount type '{}'", type);
  if (image && type != "image") fail("cannot mix 'image-*' options with mount type '{}'", type);
  if (bind && bind->contains("ReadOnlyNonRecursive") && !read_only)
    fail("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
  if (bind && bind->contains("ReadOnlyForceRecursive")) {
    if (!read_only) fail("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
    if (bind->value("Propagation", "") != "rprivate")
      fail("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction");
  }
  json m = {{"Type", type}};
  if (!source.empty()) m["Source"] = source;
  m["Target"] = target;
  if (read_only) m["ReadOnly"] = true;
  if (!consistency.empty()) m["Consistency"] = consistency;
  if (bind) m["BindOptions"] = *bind;
  if (volume) m["VolumeOptions"] = *volume;
  if (image) m["ImageOptions"] = *image;
  if (tmpfs) m["TmpfsOptions"] = *tmpfs;
  return m;
}

// The source of a -v value as docker's compose loader (ParseVolume) reads
// "[source:]target[:options]" (a one-letter first part such as "c:" is a
// Windows drive, so "v:/d" is all target); "" for an anonymous volume.
std::string volume_source(const std::string& spec) {
  if (spec.empty()) fail("invalid empty volume spec");
  if (spec.size() <= 2) return "";
  std::string source, buffer;
  bool have_source = false, have_target = false;
  for (size_t i = 0; i <= spec.size(); ++i) {
    bool end = i == spec.size();
    char c = end ? '\0' : spec[i];
    if (c == ':' && buffer.size() == 1 && std::isalpha(static_cast<unsigned char>(buffer[0]))) {
      buffer += c;  // a Windows drive letter
    } else if (c == ':' || end) {
      if (buffer.empty()) fail("invalid spec: {}: empty section between colons", spec);
      if (!have_source && !end) {
        source = buffer, have_source = true;
      } else if (have_source && !have_target) {
        have_target = true;
      } else if (have_source && !end) {
        fail("invalid spec: {}: too many colons", spec);
      }
      buffer.clear();
    } else {
      buffer += c;
    }
  }
  return source;
}

json parse_ulimit(const std::string& spec) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos) fail("invalid argument \"{}\" for \"--ulimit\" flag: invalid ulimit argument: {}", spec, spec);
  std::string name = spec.substr(0, eq);
  std::vector<std::string> lim = split(spec.substr(eq + 1), ':');
  long long soft, hard;
  if (!parse_int64(lim[0], &soft) || (lim.size() > 1 && !parse_int64(lim[1], &hard)) || lim.size() > 2)
    fail("invalid argument \"{}\" for \"--ulimit\" flag: invalid ulimit argument: {}", spec, spec);
  if (lim.size() == 1) hard = soft;
  if (soft > hard)
    fail("invalid argument \"{}\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: {} > {}",
         spec, soft, hard);
  return {{"Name", name}, {"Soft", soft}, {"Hard", hard}};
}

json restart_policy(const std::string& s) {
  json p = {{"Name", ""}, {"MaximumRetryCount", 0}};
  if (s.empty() || s == "no") {
    p["Name"] = "no";
    return p;
  }
  size_t colon = s.find(':');
  std::string name = s.substr(0, colon);
  if (name != "always" && name != "unless-stopped" && name != "on-failure")
    fail("invalid restart policy '{}'", s);
  p["Name"] = name;
  if (colon != std::string::npos) {
    long long n;
    if (name != "on-failure") fail("maximum retry count cannot be used with restart policy '{}'", name);
    if (!parse_int64(s.substr(colon + 1), &n)) fail("maximum retry count must be an integer");
    p["MaximumRetryCount"] = n;
  }
  return p;
}

struct NetworkFlags {
  std::vector<NetworkAttachment> networks;
  LegacyEndpointFlags legacy;
  std::vector<std::string> dns, dns_search, extra_hosts;  // validated as docker sends them
};

// The values of a list flag through a docker validator; a rejection is a
// flag error, as pflag reports it.
std::vector<std::string> validated(const FlagSet& f, const char* name,
                                   std::string (*validate)(const std::string&)) {
  std::vector<std::string> out;
  for (const std::string& v : f.list(name)) {
    try {
      out.push_back(validate(v));
    } catch (const Error& e) {
      throw UsageError(fmt::format("invalid argument {} for \"--{}\" flag: {}", go_quote(v), name, e.what()));
    }
  }
  return out;
}

// The --network values and the flags docker applies to the first of them,
// checked as pflag checks them while parsing.
NetworkFlags network_flags(const FlagSet& f) {
  NetworkFlags out;
  std::vector<NetworkAttachment>& networks = out.networks;
  for (const char* name : {"network", "net"}) {
    for (const std::string& v : f.list(name)) {
      try {
        networks.push_back(parse_network_flag(v));
      } catch (const Error& e) {
        throw UsageError(fmt::format("invalid argument {} for \"--{}\" flag: {}", go_quote(v), name, e.what()));
      }
    }
  }
  LegacyEndpointFlags& legacy = out.legacy;
  legacy.aliases = f.list("network-alias");
  for (const std::string& a : f.list("net-alias")) legacy.aliases.push_back(a);
  for (const std::string& l : f.list("link")) {
    if (l.empty()) throw UsageError("invalid argument \"\" for \"--link\" flag: empty string specified for links");
    if (split(l, ':').size() > 2)
      throw UsageError(
          fmt::format("invalid argument {} for \"--link\" flag: bad format for links: {}", go_quote(l), l));
    legacy.links.push_back(l);
  }
  legacy.link_local_ips = f.list("link-local-ip");
  legacy.ipv4 = f.value("ip");
  legacy.ipv6 = f.value("ip6");
  legacy.mac_address = f.value("mac-address");
  out.dns = validated(f, "dns", validate_ip_address);
  out.dns_search = validated(f, "dns-search", validate_dns_search);
  out.extra_hosts = validated(f, "add-host", validate_extra_host);
  return out;
}

// The fields docker 28 sends with their zero values whatever the flags, so
// the daemon sees the body it sees from docker.
void add_unset_fields(json& c, json& hc) {
  const json config_zero = {{"OnBuild", nullptr}};
  const json host_zero = {
      {"ConsoleSize", {0, 0}}, {"VolumesFrom", nullptr}, {"Cgroup", ""}, {"ShmSize", 0}, {"Isolation", ""},
      {"BlkioWeightDevice", json::array()}, {"BlkioDeviceReadBps", json::array()},
      {"BlkioDeviceWriteBps", json::array()}, {"BlkioDeviceReadIOps", json::array()},
      {"BlkioDeviceWriteIOps", json::array()}, {"CpuRealtimePeriod", 0}, {"CpuRealtimeRuntime", 0},
      {"DeviceCgroupRules", nullptr}, {"DeviceRequests", nullptr}, {"MemorySwappiness", -1},
      {"OomKillDisable", false}, {"PidsLimit", 0}, {"Ulimits", json::array()}, {"CpuCount", 0}, {"CpuPercent", 0},
      {"IOMaximumIOps", 0}, {"IOMaximumBandwidth", 0}, {"MaskedPaths", nullptr}, {"ReadonlyPaths", nullptr}};
  for (auto& [k, v] : config_zero.items())
    if (!c.contains(k)) c[k] = v;
  for (auto& [k, v] : host_zero.items())
    if (!hc.contains(k)) hc[k] = v;
}

}  // namespace

std::vector<std::string> read_env_file(const std::string& path, const EnvLookup& lookup) {
  std::ifstream in(path);
  if (!in) fail("open {}: no such file or directory", path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    std::string kv(t);
    if (kv.find('=') == std::string::npos) {
      if (auto v = lookup(kv)) out.push_back(kv + "=" + *v);
      continue;
    }
    out.push_back(std::string(line.substr(line.find_first_not_of(" \t"))));
  }
  return out;
}

json container_config(const FlagSet& f, const std::vector<std::string>& pos, const EnvLookup& lookup) {
  if (pos.empty()) fail("requires at least 1 argument");
  NetworkFlags net_flags = network_flags(f);
  // Malformed --mount values are flag errors, as pflag reports them.
  json mount_values = json::array();
  for (const std::string& m : f.list("mount")) {
    try {
      mount_values.push_back(parse_mount(m));
    } catch (const Error& e) {
      throw UsageError(fmt::format("invalid argument {} for \"--mount\" flag: {}", go_quote(m), e.what()));
    }
  }
  json c = json::object();
  json hc = json::object();
  c["Image"] = pos[0];
  c["Cmd"] = pos.size() > 1 ? json(std::vector<std::string>(pos.begin() + 1, pos.end())) : json(nullptr);
  if (!f.value("entrypoint").empty()) c["Entrypoint"] = json::array({f.value("entrypoint")});
  else if (f.changed("entrypoint")) c["Entrypoint"] = json::array({""});
  else c["Entrypoint"] = nullptr;

  bool attach_in = false, attach_out = false, attach_err = false;
  for (const std::string& a : f.list("attach")) {
    std::string l = a;
    for (auto& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (l == "stdin") attach_in = true;
    else if (l == "stdout") attach_out = true;
    else if (l == "stderr") attach_err = true;
    else fail("invalid argument \"{}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR", a);
  }
  if (f.on("interactive")) attach_in = true;
  if (f.list("attach").empty()) attach_out = attach_err = true;
  c["AttachStdin"] = attach_in;
  c["AttachStdout"] = attach_out;
  c["AttachStderr"] = attach_err;
  c["Tty"] = f.on("tty");
  c["OpenStdin"] = f.on("interactive");
  c["StdinOnce"] = false;
  c["Hostname"] = f.value("hostname");
  c["Domainname"] = f.value("domainname");
  c["User"] = f.value("user");
  c["WorkingDir"] = f.value("workdir");

  std::vector<std::string> env;
  for (const std::string& file : f.list("env-file")) {
    auto more = read_env_file(file, lookup);
    env.insert(env.end(), more.begin(), more.end());
  }
  for (const std::string& e : f.list("env")) env.push_back(resolve_env(e, lookup));
  c["Env"] = env.empty() ? json(nullptr) : json(env);

  json labels = json::object();
  for (const std::string& l : f.list("label")) {
    size_t eq = l.find('=');
    labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  c["Labels"] = labels;

  json exposed = json::object(), bindings = json::object();
  for (const std::string& p : f.list("publish")) add_published_port(p, exposed, bindings);
  for (const std::string& p : f.list("expose")) add_exposed_port(p, exposed);
  if (!exposed.empty()) c["ExposedPorts"] = exposed;
  hc["PortBindings"] = bindings;
  hc["PublishAllPorts"] = f.on("publish-all");

  // A -v with a source (a host path or a volume name) is a bind; one
  // without is an anonymous volume, listed in Config.Volumes.
  json volumes = json::object();
  std::vector<std::string> binds;
  for (const std::string& v : f.list("volume")) {
    std::string source = volume_source(v);
    if (source.empty()) {
      volumes[v] = json::object();
      continue;
    }
    std::string bind = v;
    // docker makes a relative host path ("./data:/data") absolute.
    if (source.starts_with(".")) bind = absolute(v.substr(0, v.find(':'))) + v.substr(v.find(':'));
    if (std::find(binds.begin(), binds.end(), bind) == binds.end()) binds.push_back(bind);
  }
  c["Volumes"] = volumes;
  hc["Binds"] = binds.empty() ? json(nullptr) : json(binds);
  if (!mount_values.empty()) hc["Mounts"] = mount_values;
  if (!f.list("tmpfs").empty()) {
    json t = json::object();
    for (const std::string& s : f.list("tmpfs")) {
      size_t colon = s.find(':');
      t[s.substr(0, colon)] = colon == std::string::npos ? "" : s.substr(colon + 1);
    }
    hc["Tmpfs"] = t;
  }
  if (!f.list("volumes-from").empty()) hc["VolumesFrom"] = f.list("volumes-from");
  hc["VolumeDriver"] = f.value("volume-driver");
  hc["ContainerIDFile"] = f.value("cidfile");

  if (f.changed("stop-signal")) c["StopSignal"] = f.value("stop-signal");
  if (f.changed("stop-timeout")) c["StopTimeout"] = int_flag(f, "stop-timeout", "--stop-timeout");

  // Health checks (docker rejects --no-healthcheck with any --health-* flag).
  bool health_flags = f.changed("health-cmd") || f.changed("health-interval") || f.changed("health-retries") ||
                      f.changed("health-timeout") || f.changed("health-start-period");
  if (f.on("no-healthcheck")) {
    if (health_flags) fail("--no-healthcheck conflicts with --health-* options");
    c["Healthcheck"] = {{"Test", {"NONE"}}};
  } else if (health_flags) {
    json h = json::object();
    if (f.changed("health-cmd")) h["Test"] = {"CMD-SHELL", f.value("health-cmd")};
    int64_t interval = duration_flag(f, "health-interval"), timeout = duration_flag(f, "health-timeout"),
            start = duration_flag(f, "health-start-period");
    if (interval < 0) fail("--health-interval cannot be negative");
    if (timeout < 0) fail("--health-timeout cannot be negative");
    if (start < 0) fail("--health-start-period cannot be negative");
    int64_t retries = int_flag(f, "health-retries", "--health-retries");
    if (retries < 0) fail("--health-retries cannot be negative");
    h["Interval"] = interval;
    h["Timeout"] = timeout;
    h["StartPeriod"] = start;
    h["Retries"] = retries;
    c["Healthcheck"] = h;
  }

  // Resources.
  hc["Memory"] = mem_flag(f, "memory", "-m, --memory");
  hc["MemoryReservation"] = mem_flag(f, "memory-reservation", "--memory-reservation");
  hc["MemorySwap"] = mem_flag(f, "memory-swap", "--memory-swap");
  hc["CpuShares"] = int_flag(f, "cpu-shares", "-c, --cpu-shares");
  hc["CpuPeriod"] = int_flag(f, "cpu-period", "--cpu-period");
  hc["CpuQuota"] = int_flag(f, "cpu-quota", "--cpu-quota");
  if (f.changed("cpus")) {
    const std::string& s = f.value("cpus");
    char* end = nullptr;
    double cpus = std::strtod(s.c_str(), &end);
    if (s.empty() || *end) bad_flag(f, "--cpus", s, "failed to parse " + s + " as a rational number");
    hc["NanoCpus"] = static_cast<int64_t>(cpus * 1e9 + 0.5);
  } else {
    hc["NanoCpus"] = 0;
  }
  hc["CpusetCpus"] = f.value("cpuset-cpus");
  hc["CpusetMems"] = f.value("cpuset-mems");
  if (f.changed("pids-limit")) hc["PidsLimit"] = int_flag(f, "pids-limit", "--pids-limit");
  int64_t blkio = int_flag(f, "blkio-weight", "--blkio-weight");
  if (blkio != 0 && (blkio < 10 || blkio > 1000)) fail("invalid --blkio-weight: valid values are 10-1000");
  hc["BlkioWeight"] = blkio;
  json ulimits = json::array();
  for (const std::string& u : f.list("ulimit")) ulimits.push_back(parse_ulimit(u));
  if (!ulimits.empty()) hc["Ulimits"] = ulimits;
  if (f.changed("oom-kill-disable")) hc["OomKillDisable"] = f.on("oom-kill-disable");
  hc["OomScoreAdj"] = int_flag(f, "oom-score-adj", "--oom-score-adj");
  if (f.changed("shm-size")) hc["ShmSize"] = mem_flag(f, "shm-size", "--shm-size");
  hc["CgroupParent"] = f.value("cgroup-parent");

  // Isolation and privileges.
  if (f.changed("init")) hc["Init"] = f.on("init");
  if (f.changed("runtime")) hc["Runtime"] = f.value("runtime");
  hc["ReadonlyRootfs"] = f.on("read-only");
  hc["Privileged"] = f.on("privileged");
  hc["CapAdd"] = f.list("cap-add").empty() ? json(nullptr) : json(f.list("cap-add"));
  hc["CapDrop"] = f.list("cap-drop").empty() ? json(nullptr) : json(f.list("cap-drop"));
  hc["SecurityOpt"] = f.list("security-opt").empty() ? json(nullptr) : json(f.list("security-opt"));
  Networking net = networking_config(net_flags.networks, net_flags.legacy);
  hc["NetworkMode"] = net.network_mode;
  // berth speaks API v1.41, whose daemons take a MAC address only from the
  // container-wide field (docker 28 refuses --mac-address below v1.44).
  if (!net_flags.legacy.mac_address.empty()) c["MacAddress"] = net_flags.legacy.mac_address;
  hc["Links"] = f.list("link").empty() ? json(nullptr) : json(f.list("link"));
  hc["PidMode"] = f.value("pid");
  hc["IpcMode"] = f.value("ipc");
  hc["UTSMode"] = f.value("uts");
  hc["UsernsMode"] = f.value("userns");
  hc["CgroupnsMode"] = f.value("cgroupns");
  hc["Dns"] = net_flags.dns;
  hc["DnsOptions"] = f.list("dns-option");
  hc["DnsSearch"] = net_flags.dns_search;
  hc["ExtraHosts"] = net_flags.extra_hosts.empty() ? json(nullptr) : json(net_flags.extra_hosts);
  hc["GroupAdd"] = f.list("group-add").empty() ? json(nullptr) : json(f.list("group-add"));
  if (!f.list("sysctl").empty()) {
    json s = json::object();
    for (const std::string& kv : f.list("sysctl")) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos) fail("invalid argument \"{}\" for \"--sysctl\" flag: sysctl '{}' is not allowed", kv, kv);
      s[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    hc["Sysctls"] = s;
  }
  json devices = json::array();
  for (const std::string& d : f.list("device")) {
    std::vector<std::string> p = split(d, ':');
    devices.push_back({{"PathOnHost", p[0]},
                       {"PathInContainer", p.size() > 1 ? p[1] : p[0]},
                       {"CgroupPermissions", p.size() > 2 ? p[2] : "rwm"}});
  }
  hc["Devices"] = devices;
  json log_opts = json::object();
  for (const std::string& kv : f.list("log-opt")) {
    size_t eq = kv.find('=');
    log_opts[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  hc["LogConfig"] = {{"Type", f.value("log-driver")}, {"Config", log_opts}};

  if (f.on("rm") && f.changed("restart") && f.value("restart") != "no")
    fail("Conflicting options: --restart and --rm");
  hc["RestartPolicy"] = restart_policy(f.value("restart"));
  hc["AutoRemove"] = f.on("rm");

  add_unset_fields(c, hc);
  c["HostConfig"] = hc;
  c["NetworkingConfig"] = {{"EndpointsConfig", net.endpoints}};
  return c;
}

}  // namespace berth::cli
