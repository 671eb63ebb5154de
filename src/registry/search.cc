#include "registry/search.h"

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/error.h"

namespace berth::registry {

using nlohmann::json;

SearchTarget search_target(const std::string& term) {
  auto slash = term.find('/');
  if (slash != std::string::npos) {
    std::string first = term.substr(0, slash);
    // docker's splitReposSearchTerm: a first component with "." or ":" (or
    // "localhost") names an index; "user/app" is a Docker Hub term.
    if (first.find_first_of(".:") != std::string::npos || first == "localhost") {
      std::string host = first == "docker.io" ? "index.docker.io" : first;
      return {host, term.substr(slash + 1)};
    }
  }
  return {"index.docker.io", term};
}

std::vector<SearchResult> search_index(HttpClient& http, const RegistryConfig& config, const SearchTarget& target,
                                       int limit, const AuthConfig& auth) {
  bool insecure = target.index_host != "index.docker.io" && is_insecure_registry(target.index_host, config);
  std::vector<std::string> bases{"https://" + target.index_host};
  if (insecure) bases.push_back("http://" + target.index_host);
  std::string last_error;
  for (const auto& base : bases) {
    HttpRequest req{.url = base + "/v1/search?q=" + url_query_escape(target.term) + "&n=" + std::to_string(limit)};
    req.insecure_tls = insecure;
    if (!auth.username.empty())
      req.headers.push_back("Authorization: Basic " + base64_encode(auth.username + ":" + auth.password));
    HttpResponse res;
    try {
      res = http.send(req);
    } catch (const Error& e) {
      last_error = e.what();
      continue;  // https refused by an insecure registry: try http
    }
    if (!res.ok()) fail("search {}: {}", req.url, registry_error_text(res.status, res.body));
    json j = json::parse(res.body, nullptr, false);
    if (!j.is_object() || !j.contains("results") || !j["results"].is_array())
      fail("search {}: invalid response from the index", req.url);
    std::vector<SearchResult> out;
    for (const auto& r : j["results"]) {
      if (!r.is_object()) continue;
      SearchResult s;
      auto text = [&](const char* k) { return r.contains(k) && r[k].is_string() ? r[k].get<std::string>() : ""; };
      s.name = text("name");
      s.description = text("description");
      s.star_count = r.contains("star_count") && r["star_count"].is_number_integer() ? r["star_count"].get<int64_t>() : 0;
      auto flag = [&](const char* k) { return r.contains(k) && r[k].is_boolean() && r[k].get<bool>(); };
      s.is_official = flag("is_official");
      s.is_automated = flag("is_automated");
      out.push_back(std::move(s));
    }
    return out;
  }
  fail("search {}: {}", target.index_host, last_error);
}

}  // namespace berth::registry
