// The Engine API's view of the shared HTTP transport (http/server.h): its
// names in berth::api, the API versions served, and the headers dockerd's
// middleware puts on every response (hijacked ones included).
#pragma once

#include <string_view>

#include "http/query.h"
#include "http/server.h"

namespace berth::api {

using http::Handler;
using http::Hijacked;
using http::HttpServer;
using http::Params;
using http::Query;
using http::Request;
using http::Response;
using http::url_decode;
using ApiError = http::HttpError;

// The maximum Engine API version served, and the oldest accepted.
inline constexpr std::string_view kApiVersion = "1.41";
inline constexpr std::string_view kMinApiVersion = "1.12";
inline constexpr std::string_view kServerHeader = "Berth/0.1 (linux)";

// Options for an Engine API server: dockerd's headers on every response.
inline HttpServer::Options engine_server_options() {
  HttpServer::Options o;
  o.default_headers = {{"Api-Version", std::string(kApiVersion)},
                       {"Docker-Experimental", "false"},
                       {"Ostype", "linux"},
                       {"Server", std::string(kServerHeader)}};
  return o;
}

}  // namespace berth::api
