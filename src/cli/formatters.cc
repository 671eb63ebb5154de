#include "cli/formatters.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/strings.h"
#include "cli/template.h"
#include "cli/units.h"

namespace berth::cli {

using json = nlohmann::json;

std::string indent_json(std::string_view raw, std::string_view indent) {
  std::string out;
  int depth = 0;
  bool need_indent = false;  // after an opening bracket, before its first element
  auto newline = [&] {
    out += '\n';
    for (int i = 0; i < depth; ++i) out += indent;
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (need_indent && c != ']' && c != '}') {
      need_indent = false;
      ++depth;
      newline();
    }
    if (c == '"') {
      size_t j = i + 1;
      while (j < raw.size() && raw[j] != '"') j += raw[j] == '\\' ? 2 : 1;
      out.append(raw.substr(i, j - i + 1));
      i = j;
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        out += c;
        need_indent = true;
        break;
      case '}':
      case ']':
        if (need_indent) {
          need_indent = false;  // empty: "{}"
        } else {
          --depth;
          newline();
        }
        out += c;
        break;
      case ',':
        out += c;
        newline();
        break;
      case ':':
        out += ": ";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string labels_text(const json& labels) {
  std::vector<std::string> kv;
  if (labels.is_object())
    for (auto& [k, v] : labels.items()) kv.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
  return join(kv, ",");
}

// reference.FamiliarString of a parsed name: docker.io/library/ dropped.
std::string familiar(std::string name) {
  if (name.starts_with("docker.io/")) name = name.substr(10);
  if (name.starts_with("library/")) name = name.substr(8);
  return name;
}

}  // namespace

std::string displayable_ports(const json& ports) {
  if (!ports.is_array()) return "";
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const json& p : ports) {
    std::string type = str(p, "Type");
    int64_t priv = num(p, "PrivatePort"), pub = num(p, "PublicPort");
    std::string ip = str(p, "IP");
    std::string s;
    if (pub != 0) {
      std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
      s = fmt::format("{}:{}->{}/{}", host, pub, priv, type);
    } else {
      s = fmt::format("{}/{}", priv, type);
    }
    if (seen.insert(s).second) out.push_back(s);
  }
  return join(out, ", ");
}

json container_row(const json& c, bool trunc, int64_t now) {
  json r = json::object();
  std::string id = str(c, "Id");
  r["ID"] = trunc ? truncate_id(id) : id;
  std::string image = str(c, "Image");
  if (image.empty()) {
    image = "<no image>";
  } else if (trunc) {
    std::string image_id = str(c, "ImageID");
    if (truncate_id(image_id) == truncate_id(image)) {
      image = truncate_id(image);
    } else if (size_t at = image.find('@'); at != std::string::npos) {
      image = familiar(image.substr(0, at));  // digest dropped when truncating
    } else {
      image = familiar(image);
    }
  }
  r["Image"] = image;
  std::string command = str(c, "Command");
  r["Command"] = go_quote(trunc ? ellipsis(command, 20) : command);
  int64_t created = num(c, "Created");
  r["CreatedAt"] = go_time_string(created);
  r["RunningFor"] = time_ago(created, now);
  r["Status"] = str(c, "Status");
  r["State"] = str(c, "State");
  r["Ports"] = displayable_ports(c.value("Ports", json::array()));
  std::vector<std::string> names;
  if (c.contains("Names") && c["Names"].is_array()) {
    for (const json& n : c["Names"]) {
      std::string name = n.get<std::string>();
      if (name.starts_with("/")) name = name.substr(1);
      if (trunc) {
        if (name.find('/') == std::string::npos) {
          names = {name};
          break;
        }
        continue;
      }
      names.push_back(name);
    }
  }
  r["Names"] = join(names, ",");
  std::string srw = human_size(static_cast<double>(num(c, "SizeRw")));
  int64_t rootfs = num(c, "SizeRootFs");
  r["Size"] = rootfs > 0 ? fmt::format("{} (virtual {})", srw, human_size(static_cast<double>(rootfs))) : srw;
  r["Labels"] = labels_text(c.value("Labels", json::object()));
  std::vector<std::string> mounts, locals;
  if (c.contains("Mounts") && c["Mounts"].is_array()) {
    for (const json& m : c["Mounts"]) {
      std::string name = str(m, "Name");
      if (name.empty()) name = str(m, "Source");
      if (trunc && name.size() > 15) name = ellipsis(name, 15);
      mounts.push_back(name);
      if (str(m, "Driver") == "local") locals.push_back(name);
    }
  }
  r["Mounts"] = join(mounts, ",");
  r["LocalVolumes"] = std::to_string(locals.size());
  std::vector<std::string> nets;
  if (c.contains("NetworkSettings") && c["NetworkSettings"].contains("Networks") &&
      c["NetworkSettings"]["Networks"].is_object())
    for (auto& [k, v] : c["NetworkSettings"]["Networks"].items()) nets.push_back(k);
  std::sort(nets.begin(), nets.end());
  r["Networks"] = join(nets, ",");
  r["Platform"] = nullptr;
  return r;
}

std::vector<json> image_rows(const json& img, bool trunc, int64_t now) {
  std::vector<json> rows;
  std::string id = str(img, "Id");
  int64_t created = num(img, "Created");
  auto base = [&](const std::string& repo, const std::string& tag, const std::string& digest) {
    json r = json::object();
    r["ID"] = trunc ? truncate_id(id) : id;
    r["Repository"] = repo;
    r["Tag"] = tag;
    r["Digest"] = digest;
    r["CreatedSince"] = created > 0 ? time_ago(created, now) : "";
    r["CreatedAt"] = go_time_string(created);
    r["Size"] = human_size(static_cast<double>(num(img, "Size")));
    r["VirtualSize"] = human_size(static_cast<double>(num(img, "Size")), 4);
    int64_t shared = num(img, "SharedSize");
    r["SharedSize"] = shared < 0 ? "N/A" : human_size(static_cast<double>(shared));
    r["UniqueSize"] = shared < 0 ? "N/A" : human_size(static_cast<double>(num(img, "Size") - shared));
    int64_t containers = num(img, "Containers");
    r["Containers"] = containers < 0 ? "N/A" : std::to_string(containers);
    return r;
  };
  std::vector<std::pair<std::string, std::string>> tags;
  if (img.contains("RepoTags") && img["RepoTags"].is_array()) {
    for (const json& t : img["RepoTags"]) {
      std::string ref = t.get<std::string>();
      if (ref == "<none>:<none>") continue;
      size_t colon = ref.rfind(':');
      if (colon == std::string::npos || ref.find('/', colon) != std::string::npos) continue;
      tags.emplace_back(familiar(ref.substr(0, colon)), ref.substr(colon + 1));
    }
  }
  std::map<std::string, std::string> digests;  // repo -> digest
  if (img.contains("RepoDigests") && img["RepoDigests"].is_array()) {
    for (const json& d : img["RepoDigests"]) {
      std::string ref = d.get<std::string>();
      size_t at = ref.find('@');
      if (at == std::string::npos) continue;
      digests[familiar(ref.substr(0, at))] = ref.substr(at + 1);
    }
  }
  std::set<std::string> repos_with_tags;
  for (auto& [repo, tag] : tags) {
    repos_with_tags.insert(repo);
    rows.push_back(base(repo, tag, digests.count(repo) ? digests[repo] : "<none>"));
  }
  for (auto& [repo, digest] : digests)
    if (!repos_with_tags.count(repo)) rows.push_back(base(repo, "<none>", digest));
  if (rows.empty()) rows.push_back(base("<none>", "<none>", "<none>"));
  return rows;
}

json history_row(const json& h, bool trunc, bool human, int64_t now) {
  json r = json::object();
  std::string id = str(h, "Id");
  r["ID"] = id == "<missing>" ? id : (trunc ? truncate_id(id) : id);
  int64_t created = num(h, "Created");
  r["CreatedSince"] = human ? time_ago(created, now) : go_time_string(created);
  r["CreatedAt"] = human ? time_ago(created, now) : go_time_string(created);
  std::string by = str(h, "CreatedBy");
  std::replace(by.begin(), by.end(), '\t', ' ');
  r["CreatedBy"] = trunc ? ellipsis(by, 45) : by;
  r["Size"] = human ? human_size(static_cast<double>(num(h, "Size"))) : std::to_string(num(h, "Size"));
  r["Comment"] = str(h, "Comment");
  return r;
}

std::string render_list(std::string_view format, std::string_view default_table, const json& header,
                        const std::vector<json>& rows) {
  std::string f(format);
  if (f.empty() || f == "table") f = default_table;
  if (f == "json") {
    // docker 28 marshals each row with encoding/json, which escapes HTML.
    std::string out;
    for (const json& r : rows) {
      for (char c : r.dump()) {
        if (c == '<') out += "\\u003c";
        else if (c == '>') out += "\\u003e";
        else if (c == '&') out += "\\u0026";
        else out += c;
      }
      out += "\n";
    }
    return out;
  }
  if (is_table_format(f)) return render_table(f, header, rows);
  Template t = Template::parse(strip_table(f));
  std::string out;
  for (const json& r : rows) out += t.execute(r) + "\n";
  return out;
}

}  // namespace berth::cli
