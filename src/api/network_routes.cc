#include "api/network_routes.h"

#include <algorithm>

#include "api/filters.h"
#include "base/clock.h"

namespace berth::api {

namespace {

using nlohmann::json;

// dockerd's field order: the docker CLI prints inspect output in the order the daemon sent it.
std::string in_docker_order(const json& n) {
  static const char* kOrder[] = {"Name",    "Id",         "Created", "Scope",      "Driver",     "EnableIPv4",
                                 "EnableIPv6", "IPAM",    "Internal", "Attachable", "Ingress",    "ConfigFrom",
                                 "ConfigOnly", "Containers", "Options", "Labels"};
  nlohmann::ordered_json out;
  for (const char* k : kOrder)
    if (n.contains(k)) out[k] = n[k];
  for (const auto& [k, v] : n.items())
    if (!out.contains(k)) out[k] = v;
  return out.dump();
}

bool predefined_name(const std::string& name) { return name == "bridge" || name == "host" || name == "none"; }

bool network_matches(engine::Engine& eng, const json& n, const Filters& f) {
  auto any = [&](const char* key, const std::function<bool(const std::string&)>& pred) {
    auto it = f.find(key);
    if (it == f.end()) return true;
    return std::any_of(it->second.begin(), it->second.end(), pred);
  };
  std::string id = n.value("Id", ""), name = n.value("Name", "");
  if (!any("id", [&](const std::string& v) { return id.rfind(v, 0) == 0; })) return false;
  // docker matches names as a substring (a regular expression in older daemons).
  if (!any("name", [&](const std::string& v) { return name.find(v) != std::string::npos; })) return false;
  if (!any("driver", [&](const std::string& v) { return n.value("Driver", "") == v; })) return false;
  if (!any("scope", [&](const std::string& v) { return v == "local"; })) return false;
  if (!any("type", [&](const std::string& v) {
        if (v != "custom" && v != "builtin") throw ApiError(400, fmt::format("invalid filter: 'type'='{}'", v));
        return (v == "builtin") == predefined_name(name);
      }))
    return false;
  if (auto it = f.find("label"); it != f.end() && !labels_match(n.value("Labels", json::object()), it->second))
    return false;
  if (auto it = f.find("dangling"); it != f.end() && !it->second.empty()) {
    bool want = it->second[0] == "true" || it->second[0] == "1";
    bool used = predefined_name(name);
    for (const auto& c : eng.list())
      for (const auto& [netname, ep] : c.networks.items()) used = used || ep.value("NetworkID", "") == id;
    if (want == used) return false;
  }
  return true;
}

void list(engine::Engine& eng, Request& req, Response& res) {
  Filters f = query_filters(req.query());
  for (const auto& [k, v] : f)
    if (k != "dangling" && k != "driver" && k != "id" && k != "label" && k != "name" && k != "scope" && k != "type")
      throw ApiError(400, fmt::format("invalid filter '{}'", k));
  std::string out = "[";
  for (auto& n : eng.networks().list()) {
    if (!network_matches(eng, n, f)) continue;
    n["Containers"] = json::object();  // docker lists without them
    out += (out.size() > 1 ? "," : "") + in_docker_order(n);
  }
  res.send(200, "application/json", out + "]\n");
}

void create(engine::Engine& eng, Request& req, Response& res) {
  json body = req.json_body();
  if (!body.is_object()) throw ApiError(400, "invalid JSON: body must be an object");
  json out = eng.networks().create(body);
  // Only bridge networks can be created (the controller refuses other drivers).
  eng.events().publish({"network", "create", out.value("Id", ""), {{"name", body.value("Name", "")}, {"type", "bridge"}}, 0});
  res.send_json(201, out);
}

void connect(engine::Engine& eng, Request& req, Response& res) {
  json body = req.json_body();
  if (!body.is_object()) throw ApiError(400, "invalid JSON: body must be an object");
  std::string container = body.value("Container", "");
  if (container.empty()) throw ApiError(400, "container is required");
  eng.connect_network(container, req.param("id"), body.value("EndpointConfig", json::object()));
  res.send(200);
}

void disconnect(engine::Engine& eng, Request& req, Response& res) {
  json body = req.json_body();
  if (!body.is_object()) throw ApiError(400, "invalid JSON: body must be an object");
  eng.disconnect_network(body.value("Container", ""), req.param("id"), body.value("Force", false));
  res.send(200);
}

void prune(engine::Engine& eng, Request& req, Response& res) {
  Filters f = query_filters(req.query());
  int64_t until = 0;
  if (auto it = f.find("until"); it != f.end() && !it->second.empty()) until = parse_time_param(it->second[0]);
  auto removed = eng.prune_networks([&](const json& n) {
    if (auto it = f.find("label"); it != f.end() && !labels_match(n.value("Labels", json::object()), it->second))
      return false;
    if (auto it = f.find("label!"); it != f.end())
      for (const auto& v : it->second)
        if (labels_match(n.value("Labels", json::object()), {v})) return false;
    if (until) {
      long long created = 0;
      if (parse_rfc3339_nano(n.value("Created", ""), &created) && created >= until) return false;
    }
    return true;
  });
  res.send_json(200, {{"NetworksDeleted", removed.empty() ? json(nullptr) : json(removed)}});
}

}  // namespace

void add_network_routes(Router& router, engine::Engine& eng) {
  router.add("GET", "/networks", [&eng](Request& req, Response& res) { list(eng, req, res); });
  router.add("GET", "/networks/{id}", [&eng](Request& req, Response& res) {
    res.send(200, "application/json", in_docker_order(eng.networks().inspect(req.param("id"))) + "\n");
  });
  router.add("POST", "/networks/create", [&eng](Request& req, Response& res) { create(eng, req, res); });
  router.add("DELETE", "/networks/{id}", [&eng](Request& req, Response& res) {
    eng.remove_network(req.param("id"));
    res.send(204);
  });
  router.add("POST", "/networks/{id}/connect", [&eng](Request& req, Response& res) { connect(eng, req, res); });
  router.add("POST", "/networks/{id}/disconnect", [&eng](Request& req, Response& res) { disconnect(eng, req, res); });
  router.add("POST", "/networks/prune", [&eng](Request& req, Response& res) { prune(eng, req, res); });
}

}  // namespace berth::api
