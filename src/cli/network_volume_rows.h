// What `network ls` and `volume ls` print: docker's formatter rows for a
// network or a volume, and the natural sort order docker lists them in.
//
// Contract: the *_row functions take the daemon's JSON item (GET /networks,
// GET /volumes) and return an object whose keys are the names docker's
// templates use ({{.ID}}, {{.Name}}, {{.Labels}} ...), every value a string
// as docker's methods return it ("N/A" where docker has no data). Labels are
// "k=v" joined by commas, sorted (docker's map order is random).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace berth::cli {

nlohmann::json network_row(const nlohmann::json& network, bool trunc);
nlohmann::json volume_row(const nlohmann::json& volume);

// fvbommel/sortorder.NaturalLess: digit runs compare as numbers ("n2" < "n10").
bool natural_less(std::string_view a, std::string_view b);

// Go's time.Time.String() of an RFC 3339 timestamp as the daemon sends it
// ("2024-05-01T10:00:00.5Z" -> "2024-05-01 10:00:00.5 +0000 UTC").
std::string go_time_text(std::string_view rfc3339);

}  // namespace berth::cli
