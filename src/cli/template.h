// Go text/template, as docker's --format flag uses it, evaluated over JSON.
//
// Contract: Template::parse accepts Go template syntax (text, {{actions}},
// trim markers, comments, pipelines, variables, if/else if/with/range/else/
// end, break/continue) with Go's builtins (and or not len index slice print
// printf println eq ne lt le gt ge) and docker's extras (json join split
// title lower upper pad truncate). execute() renders over a JSON value the
// way Go renders the value json.Unmarshal yields (objects are maps: a missing
// key prints "<no value>"), except that JSON integers stay integers. Every
// failure is a berth::Error worded as Go words it ("template: :1: unclosed
// action", `template: :1:2: executing "" at <.A.B>: ...`). A Template is
// immutable once parsed; execute() may run concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace berth::cli {

namespace tmpl {
struct Tree;
}

class Template {
 public:
  static Template parse(std::string_view text);

  std::string execute(const nlohmann::json& data) const;
  // Renders with docker's HeaderFunctions: json/split/join/title/lower/upper/
  // truncate return their string argument unchanged, so a table header keeps
  // its column names.
  std::string execute_header(const nlohmann::json& header) const;

 private:
  explicit Template(std::shared_ptr<const tmpl::Tree> t) : tree_(std::move(t)) {}
  std::shared_ptr<const tmpl::Tree> tree_;
};

// True if docker would render `format` as a table (it starts with "table").
bool is_table_format(std::string_view format);
// docker's preFormat: drops a leading "table", trims spaces, and turns the
// two-character escapes \t and \n, as typed in a shell, into real characters.
std::string strip_table(std::string_view format);
// Go's tabwriter.NewWriter(w, min_width, 1, 3, ' ', 0) over `text`, flushed
// (docker uses 10 for tables, 20 for `top`).
std::string tabwrite(std::string_view text, size_t min_width = 10);
// docker's table output: the template from `format` executed once over
// `header` (with header functions) and once per row, each line ended by
// "\n", all aligned by tabwrite().
std::string render_table(std::string_view format, const nlohmann::json& header,
                         std::span<const nlohmann::json> rows);

}  // namespace berth::cli
