#include "api/event_routes.h"
#include "api/filters.h"

#include "base/clock.h"
#include "base/strings.h"

namespace berth::api {

bool event_matches(const engine::Event& e, const Filters& f) {
  auto any = [&](const char* key, const std::function<bool(const std::string&)>& pred) {
    auto it = f.find(key);
    if (it == f.end()) return true;
    for (const auto& v : it->second)
      if (pred(v)) return true;
    return false;
  };
  if (!any("type", [&](const std::string& v) { return v == e.type; })) return false;
  if (!any("event", [&](const std::string& v) {
        // "exec_start: sh -c x" matches the filter "exec_start".
        return v == e.action || e.action.rfind(v + ":", 0) == 0;
      }))
    return false;
  auto attr = [&](const char* k) {
    auto it = e.attributes.find(k);
    return it == e.attributes.end() ? std::string() : it->second;
  };
  if (!any("container", [&](const std::string& v) {
        return e.type == "container" && (e.id.rfind(v, 0) == 0 || attr("name") == v);
      }))
    return false;
  if (!any("image", [&](const std::string& v) {
        return (e.type == "image" && (e.id == v || e.id.rfind(v, 0) == 0)) || attr("image") == v;
      }))
    return false;
  // Networks and volumes: by ID (a prefix for networks, as dockerd) or name.
  if (!any("network", [&](const std::string& v) {
        return e.type == "network" && (e.id.rfind(v, 0) == 0 || attr("name") == v);
      }))
    return false;
  if (!any("volume", [&](const std::string& v) { return e.type == "volume" && e.id == v; })) return false;
  if (auto it = f.find("label"); it != f.end()) {
    for (const auto& v : it->second) {
      auto eq = v.find('=');
      std::string key = v.substr(0, eq);
      if (!e.attributes.count(key)) return false;
      if (eq != std::string::npos && e.attributes.at(key) != v.substr(eq + 1)) return false;
    }
  }
  return true;
}

void add_event_routes(Router& router, engine::EventLog& events) {
  router.add("GET", "/events", [&events](Request& req, Response& res) {
    const Query& q = req.query();
    int64_t now = engine::now_nanos();
    int64_t since = q.has("since") ? parse_time_param(q.get("since")) : now;
    int64_t until = parse_time_param(q.get("until"));
    Filters f = query_filters(q);
    res.start_stream(200, "application/json");
    if (until && until <= now && !q.has("since")) return;
    events.subscribe(
        since, until, [&](const engine::Event& e) { return event_matches(e, f); },
        [&](const engine::Event& e) { return res.write(e.to_json().dump() + "\n"); }, req.stop_token());
  });
}

}  // namespace berth::api
