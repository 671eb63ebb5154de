#include "hub/hub_context.h"

#include <fmt/format.h>

namespace berth::hub {

void require_level(HubContext& ctx, http::Request& req, const std::string& repo, Level want) {
  Principal p = ctx.authenticate(req);
  Level have = ctx.level(p, repo);
  if (have >= want) return;
  if (p.anonymous()) throw http::HttpError(401, "authentication required");
  if (have == Level::kNone) throw http::HttpError(404, fmt::format("repository {} not found", repo));
  throw http::HttpError(403, fmt::format("{} access to repository {} required",
                                         want == Level::kAdmin ? "admin" : want == Level::kWrite ? "write" : "read",
                                         repo));
}

}  // namespace berth::hub
