// Searching an index, as `docker search` does through dockerd: GET
// <index>/v1/search?q=<term>&n=<limit> on Docker Hub's index
// (index.docker.io) or on the registry a term names ("host:5000/app"
// searches "app" on host:5000), https first and, for an insecure registry,
// http next.
//
// Contract: results keep the index's order; malformed JSON or a non-2xx
// answer throws Error naming the index URL. Filters are the caller's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "registry/endpoints.h"
#include "registry/http_client.h"
#include "registry/repository.h"

namespace berth::registry {

struct SearchResult {
  std::string name, description;
  int64_t star_count = 0;
  bool is_official = false, is_automated = false;
};

struct SearchTarget {
  std::string index_host;  // "index.docker.io" or "host:port"
  std::string term;        // what is sent as q
};

// Splits a docker search term: "busybox" -> Docker Hub; "host:5000/x" or
// "host.tld/x" -> that host, term "x".
SearchTarget search_target(const std::string& term);

std::vector<SearchResult> search_index(HttpClient& http, const RegistryConfig& config, const SearchTarget& target,
                                       int limit, const AuthConfig& auth);

}  // namespace berth::registry
