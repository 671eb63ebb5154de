#include "cli/network_volume_rows.h"

#include <algorithm>
#include <regex>
#include <vector>

#include <fmt/format.h>

#include "base/strings.h"
#include "cli/units.h"

namespace berth::cli {

using json = nlohmann::json;

namespace {

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string labels(const json& item) {
  auto it = item.find("Labels");
  if (it == item.end() || !it->is_object()) return "";
  std::vector<std::string> kv;
  for (auto& [k, v] : it->items()) kv.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
  return join(kv, ",");  // nlohmann keeps object keys sorted
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

json network_row(const json& n, bool trunc) {
  std::string id = str(n, "Id");
  return {{"ID", trunc ? truncate_id(id) : id},
          {"Name", str(n, "Name")},
          {"Driver", str(n, "Driver")},
          {"Scope", str(n, "Scope")},
          {"IPv4", flag(n, "EnableIPv4") ? "true" : "false"},
          {"IPv6", flag(n, "EnableIPv6") ? "true" : "false"},
          {"Internal", flag(n, "Internal") ? "true" : "false"},
          {"Labels", labels(n)},
          {"CreatedAt", go_time_text(str(n, "Created"))}};
}

json volume_row(const json& v) {
  const json usage = v.value("UsageData", json(nullptr));
  const json cluster = v.value("ClusterVolume", json(nullptr));
  std::string group = "N/A", availability = "N/A", status = "N/A";
  if (cluster.is_object()) {
    const json spec = cluster.value("Spec", json::object());
    group = str(spec, "Group");
    availability = str(spec, "Availability");
    const json info = cluster.value("Info", json(nullptr));
    size_t published = cluster.value("PublishStatus", json::array()).size();
    if (!info.is_object() || str(info, "VolumeID").empty()) status = "pending creation";
    else if (published == 0) status = "created";
    else status = fmt::format("in use ({} node{})", published, published == 1 ? "" : "s");
  }
  return {{"Name", str(v, "Name")},
          {"Driver", str(v, "Driver")},
          {"Scope", str(v, "Scope")},
          {"Mountpoint", str(v, "Mountpoint")},
          {"Labels", labels(v)},
          {"Links", usage.is_object() ? std::to_string(usage.value("RefCount", int64_t{0})) : "N/A"},
          {"Size", usage.is_object() ? human_size(static_cast<double>(usage.value("Size", int64_t{0})), 4) : "N/A"},
          {"Group", group},
          {"Availability", availability},
          {"Status", status}};
}

bool natural_less(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    bool da = is_digit(a[i]), db = is_digit(b[j]);
    if (da != db) return da;  // digits sort before other characters
    if (!da) {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i, ++j;
      continue;
    }
    size_t za = i, zb = j;
    while (i < a.size() && a[i] == '0') ++i;
    while (j < b.size() && b[j] == '0') ++j;
    size_t na = i, nb = j;
    while (i < a.size() && is_digit(a[i])) ++i;
    while (j < b.size() && is_digit(b[j])) ++j;
    if (i - na != j - nb) return i - na < j - nb;
    if (auto x = a.substr(na, i - na), y = b.substr(nb, j - nb); x != y) return x < y;
    if (na - za != nb - zb) return na - za < nb - zb;  // fewer leading zeros first
  }
  return a.size() < b.size();
}

std::string go_time_text(std::string_view s) {
  static const std::regex re(R"(^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$)");
  std::string in(s);
  std::smatch m;
  if (!std::regex_match(in, m, re)) return "0001-01-01 00:00:00 +0000 UTC";
  std::string frac = m[3].str();
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (frac == ".") frac.clear();
  std::string zone = m[4] == "Z" ? "+0000 UTC" : m[5].str() + m[6].str() + m[7].str();
  if (m[4] != "Z") zone += " " + zone;
  return m[1].str() + " " + m[2].str() + frac + " " + zone;
}

}  // namespace berth::cli
