#include "oci/spec.h"

#include "base/error.h"

namespace berth::oci {
namespace {

using nlohmann::json;

// Typed access to a JSON object that reports the full path on type errors.
class Reader {
 public:
  // path is the JSON path of j ("process.user"); empty for the document itself.
  Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) {
      if (path_.empty()) fail("expected object");
      fail("{}: expected object", path_);
    }
  }

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  const json& raw(const char* key) const { return j_.at(key); }
  std::string at(const char* key) const { return path_.empty() ? std::string(key) : path_ + "." + key; }

  std::string str(const char* key, std::string dflt = "") const {
    if (!has(key)) return dflt;
    const json& v = j_.at(key);
    if (!v.is_string()) fail("{}: expected string", at(key));
    return v.get<std::string>();
  }
  std::string required_str(const char* key) const {
    if (!has(key)) fail("{}: required field missing", at(key));
    return str(key);
  }
  bool boolean(const char* key, bool dflt = false) const {
    if (!has(key)) return dflt;
    const json& v = j_.at(key);
    if (!v.is_boolean()) fail("{}: expected boolean", at(key));
    return v.get<bool>();
  }
  std::optional<bool> opt_bool(const char* key) const {
    if (!has(key)) return std::nullopt;
    return boolean(key);
  }
  template <typename T>
  std::optional<T> opt_int(const char* key) const {
    if (!has(key)) return std::nullopt;
    return to_int<T>(j_.at(key), at(key));
  }
  template <typename T>
  T integer(const char* key, T dflt = 0) const {
    return opt_int<T>(key).value_or(dflt);
  }
  std::vector<std::string> strings(const char* key) const { return string_array(has(key) ? &j_.at(key) : nullptr, at(key)); }
  std::map<std::string, std::string> string_map(const char* key) const {
    std::map<std::string, std::string> out;
    if (!has(key)) return out;
    const json& v = j_.at(key);
    if (!v.is_object()) fail("{}: expected object", at(key));
    for (auto& [k, val] : v.items()) {
      if (!val.is_string()) fail("{}.{}: expected string", at(key), k);
      out[k] = val.get<std::string>();
    }
    return out;
  }
  // Calls fn(element, path) for each element of an array field.
  template <typename Fn>
  void each(const char* key, Fn fn) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_array()) fail("{}: expected array", at(key));
    for (size_t i = 0; i < v.size(); ++i) fn(v[i], fmt::format("{}[{}]", at(key), i));
  }

  template <typename T>
  static T to_int(const json& v, const std::string& path) {
    if (v.is_number_unsigned()) {
      auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) fail("{}: value {} out of range", path, u);
      return static_cast<T>(u);
    }
    if (v.is_number_integer()) {
      auto s = v.get<int64_t>();
      if constexpr (std::is_unsigned_v<T>) {
        if (s < 0) fail("{}: negative value {} not allowed", path, s);
      } else {
        if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) || s > static_cast<int64_t>(std::numeric_limits<T>::max()))
          fail("{}: value {} out of range", path, s);
      }
      return static_cast<T>(s);
    }
    fail("{}: expected integer", path);
  }
  static std::vector<std::string> string_array(const json* v, const std::string& path) {
    std::vector<std::string> out;
    if (!v || v->is_null()) return out;
    if (!v->is_array()) fail("{}: expected array of strings", path);
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) fail("{}[{}]: expected string", path, i);
      out.push_back((*v)[i].get<std::string>());
    }
    return out;
  }

 private:
  const json& j_;
  std::string path_;
};

User parse_user(const json& j, const std::string& path) {
  Reader r(j, path);
  User u;
  u.uid = r.integer<uint32_t>("uid");
  u.gid = r.integer<uint32_t>("gid");
  u.umask = r.opt_int<uint32_t>("umask");
  r.each("additionalGids", [&](const json& v, const std::string& p) { u.additional_gids.push_back(Reader::to_int<uint32_t>(v, p)); });
  u.username = r.str("username");
  return u;
}

std::vector<IdMapping> parse_mappings(const Reader& r, const char* key) {
  std::vector<IdMapping> out;
  r.each(key, [&](const json& v, const std::string& p) {
    Reader m(v, p);
    IdMapping id;
    id.container_id = m.integer<uint32_t>("containerID");
    id.host_id = m.integer<uint32_t>("hostID");
    id.size = m.integer<uint32_t>("size");
    out.push_back(id);
  });
  return out;
}

MemoryResources parse_memory(const json& j, const std::string& path) {
  Reader r(j, path);
  MemoryResources m;
  m.limit = r.opt_int<int64_t>("limit");
  m.reservation = r.opt_int<int64_t>("reservation");
  m.swap = r.opt_int<int64_t>("swap");
  m.kernel = r.opt_int<int64_t>("kernel");
  m.kernel_tcp = r.opt_int<int64_t>("kernelTCP");
  m.swappiness = r.opt_int<uint64_t>("swappiness");
  m.disable_oom_killer = r.opt_bool("disableOOMKiller");
  m.use_hierarchy = r.opt_bool("useHierarchy");
  m.check_before_update = r.opt_bool("checkBeforeUpdate");
  return m;
}

CpuResources parse_cpu(const json& j, const std::string& path) {
  Reader r(j, path);
  CpuResources c;
  c.shares = r.opt_int<uint64_t>("shares");
  c.quota = r.opt_int<int64_t>("quota");
  c.burst = r.opt_int<uint64_t>("burst");
  c.period = r.opt_int<uint64_t>("period");
  c.realtime_runtime = r.opt_int<int64_t>("realtimeRuntime");
  c.realtime_period = r.opt_int<uint64_t>("realtimePeriod");
  c.cpus = r.str("cpus");
  c.mems = r.str("mems");
  c.idle = r.opt_int<int64_t>("idle");
  return c;
}

BlockIoResources parse_blkio(const json& j, const std::string& path) {
  Reader r(j, path);
  BlockIoResources b;
  b.weight = r.opt_int<uint16_t>("weight");
  b.leaf_weight = r.opt_int<uint16_t>("leafWeight");
  r.each("weightDevice", [&](const json& v, const std::string& p) {
    Reader d(v, p);
    WeightDevice w;
    w.major = d.integer<int64_t>("major");
    w.minor = d.integer<int64_t>("minor");
    w.weight = d.opt_int<uint16_t>("weight");
    w.leaf_weight = d.opt_int<uint16_t>("leafWeight");
    b.weight_device.push_back(w);
  });
  auto throttle = [&](const char* key, std::vector<ThrottleDevice>& out) {
    r.each(key, [&](const json& v, const std::string& p) {
      Reader d(v, p);
      out.push_back({d.integer<int64_t>("major"), d.integer<int64_t>("minor"), d.integer<uint64_t>("rate")});
    });
  };
  throttle("throttleReadBpsDevice", b.throttle_read_bps);
  throttle("throttleWriteBpsDevice", b.throttle_write_bps);
  throttle("throttleReadIOPSDevice", b.throttle_read_iops);
  throttle("throttleWriteIOPSDevice", b.throttle_write_iops);
  return b;
}

Seccomp parse_seccomp(const json& j, const std::string& path) {
  Reader r(j, path);
  Seccomp s;
  s.default_action = r.required_str("defaultAction");
  s.default_errno_ret = r.opt_int<uint32_t>("defaultErrnoRet");
  s.architectures = r.strings("architectures");
  s.flags = r.strings("flags");
  s.listener_path = r.str("listenerPath");
  s.listener_metadata = r.str("listenerMetadata");
  r.each("syscalls", [&](const json& v, const std::string& p) {
    Reader sr(v, p);
    SeccompSyscall sc;
    sc.names = sr.strings("names");
    sc.action = sr.required_str("action");
    sc.errno_ret = sr.opt_int<uint32_t>("errnoRet");
    sr.each("args", [&](const json& av, const std::string& ap) {
      Reader ar(av, ap);
      SeccompArg a;
      a.index = ar.integer<uint32_t>("index");
      a.value = ar.integer<uint64_t>("value");
      a.value_two = ar.integer<uint64_t>("valueTwo");
      a.op = ar.required_str("op");
      sc.args.push_back(a);
    });
    s.syscalls.push_back(std::move(sc));
  });
  return s;
}

}  // namespace

Hook parse_hook(const json& j, const std::string& path) {
  Reader r(j, path);
  Hook h;
  h.path = r.required_str("path");
  h.args = r.strings("args");
  h.env = r.strings("env");
  h.timeout = r.opt_int<int>("timeout");
  if (h.timeout && *h.timeout <= 0) fail("{}: timeout must be positive", r.at("timeout"));
  return h;
}

json hook_to_json(const Hook& h) {
  json j{{"path", h.path}};
  if (!h.args.empty()) j["args"] = h.args;
  if (!h.env.empty()) j["env"] = h.env;
  if (h.timeout) j["timeout"] = *h.timeout;
  return j;
}

Process parse_process(const json& j, const std::string& path) {
  Reader r(j, path);
  Process p;
  p.terminal = r.boolean("terminal");
  if (r.has("consoleSize")) {
    Reader cs(r.raw("consoleSize"), r.at("consoleSize"));
    p.console_size = ConsoleSize{cs.integer<uint32_t>("height"), cs.integer<uint32_t>("width")};
  }
  if (r.has("user")) p.user = parse_user(r.raw("user"), r.at("user"));
  p.args = r.strings("args");
  p.env = r.strings("env");
  p.cwd = r.str("cwd", "");
  if (p.cwd.empty()) fail("{}: required field missing", r.at("cwd"));
  if (p.cwd[0] != '/') fail("{}: must be an absolute path, got {:?}", r.at("cwd"), p.cwd);
  if (r.has("capabilities")) {
    Reader c(r.raw("capabilities"), r.at("capabilities"));
    p.capabilities = Capabilities{c.strings("bounding"), c.strings("effective"), c.strings("inheritable"),
                                  c.strings("permitted"), c.strings("ambient")};
  }
  r.each("rlimits", [&](const json& v, const std::string& lp) {
    Reader l(v, lp);
    p.rlimits.push_back({l.required_str("type"), l.integer<uint64_t>("hard"), l.integer<uint64_t>("soft")});
  });
  p.no_new_privileges = r.boolean("noNewPrivileges");
  p.apparmor_profile = r.str("apparmorProfile");
  p.oom_score_adj = r.opt_int<int>("oomScoreAdj");
  p.selinux_label = r.str("selinuxLabel");
  return p;
}

Resources parse_resources(const json& j, const std::string& path) {
  Reader r(j, path);
  Resources res;
  r.each("devices", [&](const json& v, const std::string& p) {
    Reader d(v, p);
    if (!d.has("allow")) fail("{}: required field missing", d.at("allow"));
    DeviceCgroupRule rule;
    rule.allow = d.boolean("allow");
    rule.type = d.str("type");
    rule.major = d.opt_int<int64_t>("major");
    rule.minor = d.opt_int<int64_t>("minor");
    rule.access = d.str("access");
    res.devices.push_back(rule);
  });
  if (r.has("memory")) res.memory = parse_memory(r.raw("memory"), r.at("memory"));
  if (r.has("cpu")) res.cpu = parse_cpu(r.raw("cpu"), r.at("cpu"));
  if (r.has("pids")) res.pids_limit = Reader(r.raw("pids"), r.at("pids")).opt_int<int64_t>("limit");
  if (r.has("blockIO")) res.block_io = parse_blkio(r.raw("blockIO"), r.at("blockIO"));
  r.each("hugepageLimits", [&](const json& v, const std::string& p) {
    Reader h(v, p);
    res.hugepage_limits.push_back({h.required_str("pageSize"), h.integer<uint64_t>("limit")});
  });
  if (r.has("network")) {
    Reader n(r.raw("network"), r.at("network"));
    NetworkResources net;
    net.class_id = n.opt_int<uint32_t>("classID");
    n.each("priorities", [&](const json& v, const std::string& p) {
      Reader pr(v, p);
      net.priorities.emplace_back(pr.required_str("name"), pr.integer<uint32_t>("priority"));
    });
    res.network = net;
  }
  res.unified = r.string_map("unified");
  return res;
}

namespace {
Spec parse_spec_json(const json& j);
}  // namespace

Spec parse_spec(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    fail("{}: malformed JSON: {}", origin, e.what());
  }
  // Errors read "<origin>: <json path>: <problem>".
  try {
    return parse_spec_json(j);
  } catch (const Error& e) {
    throw e.wrap(origin);
  }
}

namespace {

Spec parse_spec_json(const json& j) {
  Reader r(j, "");
  Spec s;
  s.oci_version = r.str("ociVersion");
  if (s.oci_version.empty()) fail("ociVersion: required field missing");
  if (r.has("process")) s.process = parse_process(r.raw("process"), r.at("process"));
  if (!r.has("root")) fail("root: required field missing");
  {
    Reader root(r.raw("root"), r.at("root"));
    s.root.path = root.required_str("path");
    s.root.readonly = root.boolean("readonly");
  }
  s.hostname = r.str("hostname");
  s.domainname = r.str("domainname");
  r.each("mounts", [&](const json& v, const std::string& p) {
    Reader m(v, p);
    Mount mt;
    mt.destination = m.required_str("destination");
    mt.type = m.str("type");
    mt.source = m.str("source");
    mt.options = m.strings("options");
    if (m.has("uidMappings") || m.has("gidMappings")) fail("{}: idmapped mounts are not supported", p);
    s.mounts.push_back(std::move(mt));
  });
  if (r.has("hooks")) {
    Reader h(r.raw("hooks"), r.at("hooks"));
    auto hooks = [&](const char* key, std::vector<Hook>& out) {
      h.each(key, [&](const json& v, const std::string& p) { out.push_back(parse_hook(v, p)); });
    };
    hooks("prestart", s.hooks.prestart);
    hooks("createRuntime", s.hooks.create_runtime);
    hooks("createContainer", s.hooks.create_container);
    hooks("startContainer", s.hooks.start_container);
    hooks("poststart", s.hooks.poststart);
    hooks("poststop", s.hooks.poststop);
  }
  s.annotations = r.string_map("annotations");
  if (r.has("linux")) {
    Reader l(r.raw("linux"), r.at("linux"));
    l.each("namespaces", [&](const json& v, const std::string& p) {
      Reader n(v, p);
      s.linux.namespaces.push_back({n.required_str("type"), n.str("path")});
    });
    s.linux.uid_mappings = parse_mappings(l, "uidMappings");
    s.linux.gid_mappings = parse_mappings(l, "gidMappings");
    l.each("devices", [&](const json& v, const std::string& p) {
      Reader d(v, p);
      Device dev;
      dev.type = d.required_str("type");
      dev.path = d.required_str("path");
      dev.major = d.integer<int64_t>("major");
      dev.minor = d.integer<int64_t>("minor");
      dev.file_mode = d.opt_int<uint32_t>("fileMode");
      dev.uid = d.opt_int<uint32_t>("uid");
      dev.gid = d.opt_int<uint32_t>("gid");
      s.linux.devices.push_back(dev);
    });
    s.linux.cgroups_path = l.str("cgroupsPath");
    if (l.has("resources")) s.linux.resources = parse_resources(l.raw("resources"), l.at("resources"));
    s.linux.sysctl = l.string_map("sysctl");
    if (l.has("seccomp")) s.linux.seccomp = parse_seccomp(l.raw("seccomp"), l.at("seccomp"));
    s.linux.rootfs_propagation = l.str("rootfsPropagation");
    s.linux.masked_paths = l.strings("maskedPaths");
    s.linux.readonly_paths = l.strings("readonlyPaths");
    s.linux.mount_label = l.str("mountLabel");
    if (l.has("timeOffsets")) {
      const json& t = l.raw("timeOffsets");
      if (!t.is_object()) fail("{}: expected object", l.at("timeOffsets"));
      for (auto& [clock, off] : t.items()) {
        Reader o(off, l.at("timeOffsets") + "." + clock);
        s.linux.time_offsets_secs[clock] = o.integer<int64_t>("secs");
        s.linux.time_offsets_nanosecs[clock] = o.integer<uint32_t>("nanosecs");
      }
    }
  }
  return s;
}

}  // namespace

}  // namespace berth::oci
