#include "hub/names.h"

#include <algorithm>

#include "base/strings.h"

namespace berth::hub {

static bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One component: alphanumeric runs joined by ".", "_", "__" or any number of "-".
static bool is_valid_component(std::string_view c) {
  if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (is_alnum_lower(c[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < c.size() && !is_alnum_lower(c[i])) ++i;
    std::string_view sep = c.substr(start, i - start);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
  }
  return true;
}

bool is_valid_repository_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  size_t start = 0;
  for (;;) {
    size_t slash = name.find('/', start);
    if (!is_valid_component(name.substr(start, slash == std::string_view::npos ? name.npos : slash - start))) {
      return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  for (size_t i = 0; i < tag.size(); ++i) {
    char c = tag[i];
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!(word || (i > 0 && (c == '.' || c == '-')))) return false;
  }
  return true;
}

static bool fits(RouteShape shape, const std::vector<std::string>& parts, size_t from) {
  if (parts.size() - from != shape.size()) return false;
  return std::equal(shape.begin(), shape.end(), parts.begin() + static_cast<std::ptrdiff_t>(from),
                    [](std::string_view want, const std::string& got) { return want == "*" || want == got; });
}

// The repository is parts[0, at); the route starts at `from`.
static RepositoryRoute cut(const std::vector<std::string>& parts, size_t at, size_t from) {
  auto it = [&](size_t i) { return parts.begin() + static_cast<std::ptrdiff_t>(i); };
  return RepositoryRoute{join(std::vector<std::string>(parts.begin(), it(at)), "/"), {it(from), parts.end()}};
}

std::optional<RepositoryRoute> match_repository_route(std::string_view path, std::initializer_list<RouteShape> shapes) {
  std::vector<std::string> parts = split(path, '/');
  auto dash = std::find(parts.begin(), parts.end(), "-");
  if (dash != parts.end()) {
    size_t at = static_cast<size_t>(dash - parts.begin());
    for (RouteShape shape : shapes) {
      if (fits(shape, parts, at + 1)) return cut(parts, at, at + 1);
    }
    return std::nullopt;
  }
  for (RouteShape shape : shapes) {
    if (shape.size() >= parts.size()) continue;  // the route would leave no repository
    size_t at = parts.size() - shape.size();
    if (fits(shape, parts, at)) return cut(parts, at, at);
  }
  return std::nullopt;
}

}  // namespace berth::hub
