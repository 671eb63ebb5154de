// The classic builder's config-only steps (ENV, LABEL, ARG, EXPOSE, WORKDIR,
// USER, VOLUME, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD,
// MAINTAINER): each edits the run config and commits an image with no layer,
// its history "#(nop)  <instruction>" as dockerd writes it.
#include <algorithm>

#include "base/fs.h"
#include "base/strings.h"
#include "engine/builder_internal.h"

namespace berth::engine {

namespace {

// CMD/ENTRYPOINT/HEALTHCHECK's command: JSON as written, else the shell form.
std::vector<std::string> command_of(const build::Instruction& inst, const std::vector<std::string>& shell) {
  if (inst.json) return inst.args;
  std::vector<std::string> argv = shell;
  argv.push_back(inst.args.empty() ? "" : inst.args[0]);
  return argv;
}

std::string go_duration(long long ns) {
  if (ns == 0) return "0s";
  if (ns % 1000000000 == 0) return fmt::format("{}s", ns / 1000000000);
  return fmt::format("{}ms", ns / 1000000);
}

}  // namespace

std::string env_name(const std::string& kv) { return kv.substr(0, kv.find('=')); }

void set_env(ordered_json& run_config, const std::string& key, const std::string& value) {
  if (!run_config.contains("Env") || !run_config["Env"].is_array()) run_config["Env"] = ordered_json::array();
  for (auto& e : run_config["Env"])
    if (e.is_string() && env_name(e.get<std::string>()) == key) {
      e = key + "=" + value;
      return;
    }
  run_config["Env"].push_back(key + "=" + value);
}

ordered_json string_array(const std::vector<std::string>& v) {
  ordered_json a = ordered_json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

std::string go_list(const std::vector<std::string>& v) { return "[" + join(v, " ") + "]"; }

void Build::config_step(StageState& st, const build::Instruction& inst) {
  const std::string& kw = inst.keyword;
  ordered_json& rc = st.run_config();
  if (kw == "ENV") {
    // Every value is expanded against the environment before this line.
    std::vector<std::pair<std::string, std::string>> kvs;
    std::vector<std::string> shown;
    for (const auto& kv : inst.pairs) {
      std::string key = expand(st, kv.key), value = expand(st, kv.value.value_or(""));
      kvs.emplace_back(key, value);
      shown.push_back(key + "=" + value);
    }
    for (const auto& [k, v] : kvs) set_env(rc, k, v);
    return commit_nop(st, "ENV " + join(shown, " "));
  }
  if (kw == "LABEL") {
    std::vector<std::string> shown;
    if (!rc.contains("Labels") || !rc["Labels"].is_object()) rc["Labels"] = ordered_json::object();
    for (const auto& kv : inst.pairs) {
      std::string key = expand(st, kv.key), value = expand(st, kv.value.value_or(""));
      rc["Labels"][key] = value;
      shown.push_back(key + "=" + value);
    }
    return commit_nop(st, "LABEL " + join(shown, " "));
  }
  if (kw == "ARG") {
    std::vector<std::string> shown;
    for (const auto& kv : inst.pairs) {
      std::optional<std::string> dflt;
      if (kv.value) dflt = expand(st, *kv.value);
      else if (auto global = meta_args_.find(kv.key); global != meta_args_.end()) dflt = global->second;
      st.args[kv.key] = arg_value(kv.key, dflt);
      {
        std::lock_guard lock(mu_);
        consumed_args_.insert(kv.key);
      }
      shown.push_back(kv.value ? kv.key + "=" + *dflt : kv.key);
    }
    return commit_nop(st, "ARG " + join(shown, " "));
  }
  if (kw == "EXPOSE") {
    std::vector<std::string> specs;
    for (const auto& a : inst.args)
      for (auto& w : expand_words(st, a)) specs.push_back(w);
    std::vector<std::string> ports;
    try {
      ports = build::exposed_ports(specs);
    } catch (const Error& e) {
      throw BuildError(e.what(), 1);
    }
    if (!rc.contains("ExposedPorts") || !rc["ExposedPorts"].is_object()) rc["ExposedPorts"] = ordered_json::object();
    for (const auto& p : ports) rc["ExposedPorts"][p] = ordered_json::object();
    std::sort(ports.begin(), ports.end());
    return commit_nop(st, "EXPOSE " + join(ports, " "));
  }
  if (kw == "WORKDIR") {
    std::string dir = expand(st, inst.args.at(0));
    std::string cur = rc.value("WorkingDir", "");
    if (!dir.starts_with("/")) dir = path_join(cur.empty() ? "/" : cur, dir);
    rc["WorkingDir"] = clean_path(dir);
    return commit_nop(st, "WORKDIR " + rc["WorkingDir"].get<std::string>());
  }
  if (kw == "USER") {
    rc["User"] = expand(st, inst.args.at(0));
    return commit_nop(st, "USER " + rc["User"].get<std::string>());
  }
  if (kw == "VOLUME") {
    std::vector<std::string> vols;
    for (const auto& a : inst.args) {
      if (inst.json) vols.push_back(expand(st, a));
      else
        for (auto& w : expand_words(st, a)) vols.push_back(w);
    }
    if (!rc.contains("Volumes") || !rc["Volumes"].is_object()) rc["Volumes"] = ordered_json::object();
    for (const auto& v : vols) {
      if (trim(v).empty()) throw BuildError("VOLUME specified can not be an empty string", 1);
      rc["Volumes"][v] = ordered_json::object();
    }
    return commit_nop(st, "VOLUME " + go_list(vols));
  }
  if (kw == "STOPSIGNAL") {
    rc["StopSignal"] = expand(st, inst.args.at(0));
    return commit_nop(st, "STOPSIGNAL " + rc["StopSignal"].get<std::string>());
  }
  if (kw == "CMD") {
    std::vector<std::string> cmd = command_of(inst, st.shell());
    rc["Cmd"] = string_array(cmd);
    if (!inst.json) rc["ArgsEscaped"] = true;
    st.cmd_set = true;
    return commit_nop(st, "CMD " + go_list(cmd));
  }
  if (kw == "ENTRYPOINT") {
    std::vector<std::string> ep = command_of(inst, st.shell());
    rc["Entrypoint"] = string_array(ep);
    if (!st.cmd_set) rc["Cmd"] = nullptr;  // the base image's CMD was meant for its own entrypoint
    return commit_nop(st, "ENTRYPOINT " + go_list(ep));
  }
  if (kw == "SHELL") {
    rc["Shell"] = string_array(inst.args);
    return commit_nop(st, "SHELL " + go_list(inst.args));
  }
  if (kw == "HEALTHCHECK") {
    const build::Healthcheck& hc = *inst.healthcheck;
    ordered_json h = {{"Test", string_array(hc.test)}};
    if (hc.interval) h["Interval"] = hc.interval;
    if (hc.timeout) h["Timeout"] = hc.timeout;
    if (hc.start_period) h["StartPeriod"] = hc.start_period;
    if (hc.start_interval) h["StartInterval"] = hc.start_interval;
    if (hc.retries) h["Retries"] = hc.retries;
    rc["Healthcheck"] = h;
    std::vector<std::string> quoted;
    for (const auto& t : hc.test) quoted.push_back(build::go_quote(t));
    return commit_nop(st, fmt::format("HEALTHCHECK &{{[{}] \"{}\" \"{}\" \"{}\" '\\x{:02x}'}}", join(quoted, " "),
                                      go_duration(hc.interval), go_duration(hc.timeout),
                                      go_duration(hc.start_period), hc.retries));
  }
  if (kw == "ONBUILD") {
    if (!rc.contains("OnBuild") || !rc["OnBuild"].is_array()) rc["OnBuild"] = ordered_json::array();
    rc["OnBuild"].push_back(inst.trigger);
    return commit_nop(st, "ONBUILD " + inst.trigger);
  }
  if (kw == "MAINTAINER") {
    st.config["author"] = inst.args.at(0);
    return commit_nop(st, "MAINTAINER " + inst.args.at(0));
  }
  throw BuildError(fmt::format("{}:{}: unknown instruction: {}", df_.name, inst.start_line, kw), 1);
}

}  // namespace berth::engine
