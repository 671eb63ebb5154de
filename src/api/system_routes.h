// System endpoints: GET|HEAD /_ping, GET /version, GET /info.
//
// Contract: the JSON has the shape dockerd 20.10 (API 1.41) returns, with
// every field the docker CLI, docker-compose and the Python SDK read, so they
// print or parse it unchanged. Host facts (kernel, OS, CPUs, memory, cgroup
// version) are read per request: cheap, and always current. Container and
// image counts come from DaemonInfo::counts.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/router.h"

namespace berth::api {

inline constexpr std::string_view kServerVersion = "0.1.0";

struct RuntimeInfo {
  std::string path;
  std::vector<std::string> args;
};

// What the daemon was started with, as /info reports it.
struct DaemonInfo {
  std::string id;  // stable engine ID, see load_or_create_engine_id
  std::string data_root;
  std::string exec_root;
  std::map<std::string, RuntimeInfo> runtimes;
  std::string default_runtime;
  bool debug = false;
  // Fills the engine's counts (Containers*, Images) into /info; optional.
  std::function<void(nlohmann::json&)> counts;
};

// The engine ID stored in <data_root>/engine-id, created (a random UUID) on
// first start so `docker info` shows the same ID across restarts.
std::string load_or_create_engine_id(const std::string& data_root);

nlohmann::json version_json();
nlohmann::json info_json(const DaemonInfo& d);

// Registers the endpoints; d must outlive the router.
void add_system_routes(Router& router, const DaemonInfo& d);

}  // namespace berth::api
