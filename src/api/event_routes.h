// GET /events: docker's event stream (JSON objects, one per line, over a
// chunked response) with `since`, `until` and `filters` (type, event,
// container, image, label). Without `since` only new events are sent;
// with `until` the stream ends at that time.
#pragma once

#include "api/router.h"
#include "api/filters.h"
#include "engine/events.h"

namespace berth::api {

void add_event_routes(Router& router, engine::EventLog& events);
bool event_matches(const engine::Event& e, const Filters& f);

}  // namespace berth::api
