// Repository names, tags and references as the distribution spec defines them.
//
// Contract: a repository name is one or more path components matching
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* joined by "/", at most 255 characters;
// a tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. Nothing here throws.
#pragma once

#include <string_view>

namespace berth::hub {

bool is_valid_repository_name(std::string_view name);
bool is_valid_tag(std::string_view tag);

}  // namespace berth::hub
