#include "api/volume_routes.h"

#include <algorithm>
#include <regex>

#include "api/filters.h"
#include "api/volume_json.h"

namespace berth::api {
namespace {

using nlohmann::json;

void check_filter_keys(const Filters& f, std::initializer_list<const char*> accepted) {
  for (const auto& [k, v] : f)
    if (std::none_of(accepted.begin(), accepted.end(), [&](const char* a) { return k == a; }))
      throw ApiError(400, fmt::format("Invalid filter '{}'", k));
}

std::string bracketed(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : " ") + v;
  return "[" + out + "]";
}

// Go's strconv.ParseBool.
std::optional<bool> parse_go_bool(const std::string& s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False") return false;
  return std::nullopt;
}

json labels_json(const engine::Volume& v) { return v.labels ? json(*v.labels) : json(nullptr); }

// docker's filters.Match: the value itself, or a regular expression found in it.
bool name_matches(const std::string& name, const std::string& pattern) {
  if (name == pattern) return true;
  try {
    return std::regex_search(name, std::regex(pattern));
  } catch (const std::regex_error&) {
    return false;
  }
}

void list(engine::Engine& eng, Request& req, Response& res) {
  Filters f = query_filters(req.query());
  check_filter_keys(f, {"dangling", "driver", "label", "name"});
  std::optional<bool> dangling;
  if (auto it = f.find("dangling"); it != f.end()) {
    // filters.GetBoolOrDefault: one truth value, not both.
    bool yes = std::count(it->second.begin(), it->second.end(), "true") + std::count(it->second.begin(), it->second.end(), "1");
    bool no = std::count(it->second.begin(), it->second.end(), "false") + std::count(it->second.begin(), it->second.end(), "0");
    if (yes == no) throw ApiError(400, fmt::format("Invalid filter 'dangling={}'", bracketed(it->second)));
    dangling = yes;
  }
  json out = json::array();
  for (const auto& v : eng.volumes().list()) {
    if (auto it = f.find("name"); it != f.end() &&
        std::none_of(it->second.begin(), it->second.end(), [&](const std::string& p) { return name_matches(v.name, p); }))
      continue;
    if (auto it = f.find("driver"); it != f.end() && std::find(it->second.begin(), it->second.end(), v.driver) == it->second.end())
      continue;
    if (auto it = f.find("label"); it != f.end() && !labels_match(labels_json(v), it->second)) continue;
    if (dangling && eng.volumes().refs(v.name).empty() != *dangling) continue;
    out.push_back(volume_json(v));
  }
  res.send_json(200, {{"Volumes", out}, {"Warnings", nullptr}});
}

std::optional<engine::StringMap> string_map_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) throw ApiError(400, fmt::format("{} must be an object", key));
  engine::StringMap m;
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) throw ApiError(400, fmt::format("{}: the value of {} must be a string", key, k));
    m[k] = v.get<std::string>();
  }
  return m;
}

void create(engine::Engine& eng, Request& req, Response& res) {
  json body = req.json_body();
  if (body.is_null()) body = json::object();
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  auto text = [&](const char* key) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return std::string();
    if (!it->is_string()) throw ApiError(400, fmt::format("{} must be a string", key));
    return it->get<std::string>();
  };
  engine::VolumeStore::CreateOptions o;
  o.driver = text("Driver");
  o.options = string_map_field(body, "DriverOpts");
  o.labels = string_map_field(body, "Labels");
  res.send_json(201, volume_json(eng.volumes().create(text("Name"), o)));
}

void prune(engine::Engine& eng, Request& req, Response& res) {
  Filters f = query_filters(req.query());
  check_filter_keys(f, {"all", "label", "label!"});
  bool all = compare_versions(req.api_version(), "1.42") < 0;  // API 1.42 made prune spare named volumes
  if (auto it = f.find("all"); it != f.end()) {
    if (it->second.size() > 1)
      throw ApiError(400, fmt::format("invalid filter 'all={}': only one value is expected", bracketed(it->second)));
    auto b = parse_go_bool(it->second.empty() ? "" : it->second[0]);
    if (!b)
      throw ApiError(400, fmt::format("invalid filter 'all': strconv.ParseBool: parsing \"{}\": invalid syntax",
                                      it->second.empty() ? "" : it->second[0]));
    all = all || *b;
  }
  auto report = eng.volumes().prune([&](const engine::Volume& v) {
    if (!all && !v.has_label(engine::kAnonymousVolumeLabel)) return false;
    if (auto it = f.find("label"); it != f.end() && !labels_match(labels_json(v), it->second)) return false;
    if (auto it = f.find("label!"); it != f.end() && labels_match(labels_json(v), it->second)) return false;
    return true;
  });
  res.send_json(200, {{"VolumesDeleted", report.deleted}, {"SpaceReclaimed", report.reclaimed}});
}

}  // namespace

void add_volume_routes(Router& router, engine::Engine& eng) {
  router.add("GET", "/volumes", [&eng](Request& req, Response& res) { list(eng, req, res); });
  router.add("POST", "/volumes/create", [&eng](Request& req, Response& res) { create(eng, req, res); });
  router.add("POST", "/volumes/prune", [&eng](Request& req, Response& res) { prune(eng, req, res); });
  router.add("GET", "/volumes/{name}", [&eng](Request& req, Response& res) {
    res.send_json(200, volume_json(eng.volumes().get(req.param("name"))));
  });
  router.add("DELETE", "/volumes/{name}", [&eng](Request& req, Response& res) {
    eng.volumes().remove(req.param("name"), req.query().get_bool("force"));
    res.send(204);
  });
}

json volumes_disk_usage(engine::Engine& eng) {
  json out = json::array();
  for (const auto& v : eng.volumes().list()) {
    if (v.driver != "local" || (v.options && !v.options->empty())) continue;
    out.push_back(volume_json(v, static_cast<int64_t>(engine::disk_usage(v.mountpoint)),
                              static_cast<int64_t>(eng.volumes().refs(v.name).size())));
  }
  return out;
}

}  // namespace berth::api
