// What docker's formatter package computes for list output: one template
// row per container / image / history entry / stats sample, with docker's
// truncation and humanisation, and the shared --format dispatch.
//
// Contract: the *_row functions take the daemon's JSON item and return an
// object whose keys are the names docker's templates use ({{.ID}},
// {{.Command}}, {{.CreatedSince}} ...), all values already strings as
// docker's methods return them. render_list() applies docker's rules for a
// --format value: empty or "table" is the command's default table, "json"
// is {{json .}}, "table ..." is a table with headers, anything else one line
// per row. indent_json is Go's json.Indent (the daemon's bytes are kept, so
// escaping such as \u003c survives as docker shows it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::cli {

std::string indent_json(std::string_view raw, std::string_view indent = "    ");

nlohmann::json container_row(const nlohmann::json& c, bool trunc, int64_t now_sec);
std::vector<nlohmann::json> image_rows(const nlohmann::json& img, bool trunc, int64_t now_sec);
nlohmann::json history_row(const nlohmann::json& h, bool trunc, bool human, int64_t now_sec);
// docker's DisplayablePorts: "0.0.0.0:8080->80/tcp, 443/tcp".
std::string displayable_ports(const nlohmann::json& ports);

// Renders rows per docker's --format rules. `default_table` is the command's
// default ("table {{.ID}}\t..."); `header` maps field names to column titles.
std::string render_list(std::string_view format, std::string_view default_table, const nlohmann::json& header,
                        const std::vector<nlohmann::json>& rows);

}  // namespace berth::cli
