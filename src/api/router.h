// Router: maps "METHOD /path" to a handler, the way dockerd's mux does.
//
// Contract:
// - Patterns are "/"-separated segments: literals, "{name}" (exactly one
//   non-empty segment) and "{name:.*}" (one or more segments, for image
//   references such as "localhost:5000/library/busybox").
// - Paths may carry a version prefix "/vN.NN"; it is stripped and recorded as
//   the request's API version (kApiVersion when absent). Versions above
//   kApiVersion or below kMinApiVersion are refused with 400, as dockerd does.
// - The path is %-decoded before matching (like Go's r.URL.Path).
// - When several routes match, the one with more literal segments wins, then
//   the one added first ("/containers/prune" beats "/containers/{id}").
// - Errors become docker's JSON: {"message": "..."}. Unknown routes (and a
//   known path with the wrong method) are 404 {"message":"page not found"};
//   ApiError carries its status; the engine's error kinds (engine/errors.h)
//   become 404, 409, 400, 403 and 304; any other exception is a 500.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace berth::api {

// Splits "/v1.41/x" into version "1.41" and path "/x". Returns false (and
// leaves the outputs untouched) when there is no version prefix.
bool split_version_prefix(std::string_view path, std::string* version, std::string* rest);

// Compares dotted versions numerically: <0, 0, >0.
int compare_versions(std::string_view a, std::string_view b);

class Router {
 public:
  void add(std::string method, std::string_view pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: no route
    Params params;
  };
  // path is decoded and has no version prefix.
  Match match(std::string_view method, std::string_view path) const;

  // The HttpServer handler: strips the version, parses the query, matches,
  // runs the route and turns exceptions into docker's error responses.
  void serve(Request& req, Response& res) const;

 private:
  struct Segment {
    enum Kind { kLiteral, kParam, kRest } kind;
    std::string text;  // the literal, or the parameter name
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    int literals = 0;
    Handler handler;
  };
  static bool match_segments(const std::vector<Segment>& pattern, size_t pi,
                             const std::vector<std::string_view>& path, size_t si, Params* params);

  std::vector<Route> routes_;
};

}  // namespace berth::api
