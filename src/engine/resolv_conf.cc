#include "engine/resolv_conf.h"

#include <sstream>

namespace berth::engine {

namespace {

struct ResolvConf {
  std::vector<std::string> nameservers, search, options;
};

ResolvConf parse(const std::string& text) {
  ResolvConf rc;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    if (!(words >> key) || key[0] == '#' || key[0] == ';') continue;
    std::string w;
    if (key == "nameserver") {
      if (words >> w) rc.nameservers.push_back(w);
    } else if (key == "search" || key == "domain") {
      rc.search.clear();
      while (words >> w) rc.search.push_back(w);
    } else if (key == "options") {
      while (words >> w) rc.options.push_back(w);
    }
  }
  return rc;
}

std::vector<std::string> strings(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

bool is_loopback(const std::string& ns) { return ns.rfind("127.", 0) == 0 || ns == "::1"; }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

std::string container_resolv_conf(const nlohmann::json& host_config, const std::string& host_resolv_conf,
                                  const std::vector<std::string>& daemon_dns, bool embedded_dns, bool host_net) {
  ResolvConf host = parse(host_resolv_conf);
  std::vector<std::string> dns = strings(host_config.value("Dns", nlohmann::json()));
  if (dns.empty()) dns = daemon_dns;
  std::vector<std::string> search = strings(host_config.value("DnsSearch", nlohmann::json()));
  std::vector<std::string> options = strings(host_config.value("DnsOptions", nlohmann::json()));
  ResolvConf out;
  if (embedded_dns) {
    out.nameservers = {"127.0.0.11"};
  } else if (!dns.empty()) {
    out.nameservers = dns;
  } else if (host_net) {
    out.nameservers = host.nameservers;
  } else {
    for (const auto& ns : host.nameservers)
      if (!is_loopback(ns)) out.nameservers.push_back(ns);
    if (out.nameservers.empty()) out.nameservers = {"8.8.8.8", "8.8.4.4"};
  }
  out.search = search.empty() ? host.search : search;
  if (search.size() == 1 && search[0] == ".") out.search.clear();
  out.options = options.empty() ? host.options : options;
  if (embedded_dns) {
    bool ndots = false;
    for (const auto& o : out.options) ndots = ndots || o.rfind("ndots:", 0) == 0;
    if (!ndots) out.options.push_back("ndots:0");
  }
  std::string text;
  for (const auto& ns : out.nameservers) text += "nameserver " + ns + "\n";
  if (!out.search.empty()) text += "search " + join(out.search) + "\n";
  if (!out.options.empty()) text += "options " + join(out.options) + "\n";
  return text;
}

}  // namespace berth::engine
