#include "api/router.h"

#include <cctype>
#include <exception>

#include "base/strings.h"
#include "engine/errors.h"

namespace berth::api {

bool split_version_prefix(std::string_view path, std::string* version, std::string* rest) {
  // "/v" digits "." digits, then "/" or end.
  if (!path.starts_with("/v")) return false;
  size_t i = 2, dots = 0, digits = 0;
  while (i < path.size() && path[i] != '/') {
    char c = path[i];
    if (c == '.') {
      ++dots;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      ++digits;
    } else {
      return false;
    }
    ++i;
  }
  if (dots != 1 || digits < 2 || path[2] == '.' || path[i - 1] == '.') return false;
  *version = std::string(path.substr(2, i - 2));
  *rest = i == path.size() ? std::string("/") : std::string(path.substr(i));
  return true;
}

int compare_versions(std::string_view a, std::string_view b) {
  std::vector<std::string> pa = split(a, '.'), pb = split(b, '.');
  for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    unsigned long long x = 0, y = 0;
    if (i < pa.size()) parse_uint64(pa[i], &x);
    if (i < pb.size()) parse_uint64(pb[i], &y);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

static std::vector<std::string_view> path_segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

void Router::add(std::string method, std::string_view pattern, Handler handler) {
  Route r{std::move(method), {}, 0, std::move(handler)};
  for (std::string_view seg : path_segments(pattern)) {
    if (seg.starts_with("{") && seg.ends_with("}")) {
      std::string_view name = seg.substr(1, seg.size() - 2);
      if (name.ends_with(":.*")) {
        r.segments.push_back({Segment::kRest, std::string(name.substr(0, name.size() - 3))});
      } else {
        r.segments.push_back({Segment::kParam, std::string(name)});
      }
    } else {
      r.segments.push_back({Segment::kLiteral, std::string(seg)});
      ++r.literals;
    }
  }
  routes_.push_back(std::move(r));
}

bool Router::match_segments(const std::vector<Segment>& pattern, size_t pi,
                            const std::vector<std::string_view>& path, size_t si, Params* params) {
  if (pi == pattern.size()) return si == path.size();
  if (si == path.size()) return false;
  const Segment& seg = pattern[pi];
  switch (seg.kind) {
    case Segment::kLiteral:
      return seg.text == path[si] && match_segments(pattern, pi + 1, path, si + 1, params);
    case Segment::kParam:
      if (!match_segments(pattern, pi + 1, path, si + 1, params)) return false;
      (*params)[seg.text] = std::string(path[si]);
      return true;
    case Segment::kRest:
      // Greedy: the longest run of segments that still lets the rest match,
      // so "/images/a/json/json" names image "a/json".
      for (size_t end = path.size(); end > si; --end) {
        if (match_segments(pattern, pi + 1, path, end, params)) {
          std::string value;
          for (size_t k = si; k < end; ++k) {
            if (k > si) value += '/';
            value += path[k];
          }
          (*params)[seg.text] = std::move(value);
          return true;
        }
      }
      return false;
  }
  return false;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  std::vector<std::string_view> segs = path_segments(path);
  Match best;
  int best_literals = -1;
  for (const Route& r : routes_) {
    if (r.method != method || r.literals <= best_literals) continue;
    Params params;
    if (match_segments(r.segments, 0, segs, 0, &params)) {
      best.handler = &r.handler;
      best.params = std::move(params);
      best_literals = r.literals;
    }
  }
  return best;
}

void Router::serve(Request& req, Response& res) const {
  try {
    std::string_view target = req.target();
    size_t q = target.find('?');
    std::string raw_path(target.substr(0, q));
    Query query = q == std::string_view::npos ? Query() : Query::parse(target.substr(q + 1));
    std::string path = url_decode(raw_path, false);
    std::string version(kApiVersion), rest;
    if (split_version_prefix(path, &version, &rest)) {
      path = std::move(rest);
      if (compare_versions(version, kApiVersion) > 0) {
        throw ApiError(400, fmt::format("client version {} is too new. Maximum supported API version is {}",
                                        version, kApiVersion));
      }
      if (compare_versions(version, kMinApiVersion) < 0) {
        throw ApiError(400, fmt::format("client version {} is too old. Minimum supported API version is {}, "
                                        "please upgrade your client to a newer version",
                                        version, kMinApiVersion));
      }
    }
    Match m = match(req.method(), path);
    if (!m.handler) {
      res.send_error(404, "page not found");
      return;
    }
    req.set_route(version, path, std::move(m.params), std::move(query));
    (*m.handler)(req, res);
  } catch (const ApiError& e) {
    if (!res.answered()) res.send_error(e.status(), e.what());
    else throw;  // mid-stream: the server drops the connection
  } catch (const engine::NotModifiedError&) {
    if (!res.answered()) res.send(304);
  } catch (const engine::NotFoundError& e) {
    if (!res.answered()) res.send_error(404, e.what());
    else throw;
  } catch (const engine::ConflictError& e) {
    if (!res.answered()) res.send_error(409, e.what());
    else throw;
  } catch (const engine::InvalidArgumentError& e) {
    if (!res.answered()) res.send_error(400, e.what());
    else throw;
  } catch (const engine::ForbiddenError& e) {
    if (!res.answered()) res.send_error(403, e.what());
    else throw;
  } catch (const std::exception& e) {
    if (!res.answered()) res.send_error(500, e.what());
    else throw;
  }
}

}  // namespace berth::api
