// Repository names, tags and references as the distribution spec defines them.
//
// Contract: a repository name is one or more path components matching
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* joined by "/", at most 255 characters;
// a tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. Nothing here throws.
//
// match_repository_route splits a path below /api/v1/repositories/ into the
// repository and the route inside it. "<repo>/-/<route>" (and "<repo>/-" for
// the repository itself) is the unambiguous form: "-" is never a name
// component. The short form "<repo>/<route>" is matched by whole trailing
// components, so a repository whose last component is a route word (say
// "alice/tags") is reached only through the "-" form.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::hub {

bool is_valid_repository_name(std::string_view name);
bool is_valid_tag(std::string_view tag);

struct RepositoryRoute {
  std::string repo;              // not checked: may be empty or invalid
  std::vector<std::string> sub;  // the route's components; empty for the repository itself
};

// A shape lists a route's components, "*" standing for any one component; {}
// is the repository itself. Shapes are tried in order; nullopt when none fits.
using RouteShape = std::initializer_list<std::string_view>;
std::optional<RepositoryRoute> match_repository_route(std::string_view path, std::initializer_list<RouteShape> shapes);

}  // namespace berth::hub
