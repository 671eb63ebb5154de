// Registry endpoints of the Engine API: POST /images/create?fromImage
// (pull), POST /images/{name}/push, POST /auth, GET /distribution/{name}/json,
// GET /images/search (filters stars, is-official, is-automated).
//
// Pull and push answer with docker's JSON message stream
// ({"status","id","progressDetail"}; errors as {"errorDetail","error"}).
// As in dockerd the stream starts with the first message, so a failure
// before any progress (unknown repository or tag, refused credentials, no
// such local image) is a plain HTTP error: 404, 401 or 500.
// Credentials come from the X-Registry-Auth header (base64url JSON
// AuthConfig), never from the daemon's own files.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/router.h"
#include "engine/distribution.h"
#include "registry/repository.h"

namespace berth::api {

void add_distribution_routes(Router& router, engine::Distribution& dist);

// The pull half of POST /images/create (the import half is in image_routes).
void serve_pull(engine::Distribution& dist, Request& req, Response& res);

// One progress line of a pull as dockerd writes it (also inside a build's stream).
nlohmann::json pull_progress_json(const registry::PullProgress& p);

// Decodes an X-Registry-Auth header value ("" gives empty credentials).
registry::AuthConfig parse_registry_auth(const std::string& header);

}  // namespace berth::api
