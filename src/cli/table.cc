// docker's table output: its format pre-processing and Go's text/tabwriter
// with the settings docker uses (minwidth 10, tabwidth 1, padding 3, ' ',
// no flags), reimplemented so columns line up exactly as docker's do.
#include <functional>
#include <vector>

#include "cli/template.h"
#include "cli/template_internal.h"

namespace berth::cli {
namespace {

constexpr size_t kPadding = 3;

struct Cell {
  std::string text;
  size_t width;  // in runes
};
using Line = std::vector<Cell>;

}  // namespace

bool is_table_format(std::string_view format) { return format.starts_with("table"); }

std::string strip_table(std::string_view format) {
  if (is_table_format(format)) format.remove_prefix(5);
  size_t b = format.find_first_not_of(' ');
  if (b == std::string_view::npos) return "";
  format = format.substr(b, format.find_last_not_of(' ') - b + 1);
  std::string out;
  for (size_t i = 0; i < format.size(); i++) {
    if (format[i] == '\\' && i + 1 < format.size() && (format[i + 1] == 't' || format[i + 1] == 'n')) {
      out += format[++i] == 't' ? '\t' : '\n';
    } else {
      out += format[i];
    }
  }
  return out;
}

std::string tabwrite(std::string_view text, size_t min_width) {
  // Cells end at '\t' or '\v', lines at '\n' or '\f'; the text after the
  // last newline is a cell only if non-empty (as at tabwriter's Flush).
  std::vector<Line> lines(1);
  std::string cell;
  auto end_cell = [&] {
    lines.back().push_back({cell, tmpl::rune_count(cell)});
    cell.clear();
  };
  for (char c : text) {
    if (c == '\t' || c == '\v') {
      end_cell();
    } else if (c == '\n' || c == '\f') {
      end_cell();
      lines.emplace_back();
    } else {
      cell += c;
    }
  }
  if (!cell.empty()) end_cell();

  std::string out;
  std::vector<size_t> widths;
  auto write_lines = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
      const Line& line = lines[i];
      for (size_t j = 0; j < line.size(); j++) {
        out += line[j].text;
        if (j < widths.size()) out.append(widths[j] - line[j].width, ' ');
      }
      if (i + 1 < lines.size()) out += '\n';
    }
  };
  // A column block is a run of consecutive lines that have a (non-last)
  // cell in this column; its width is the widest cell plus padding.
  std::function<void(size_t, size_t)> format = [&](size_t line0, size_t line1) {
    size_t column = widths.size();
    size_t pos = line0;
    for (size_t i = line0; i < line1; i++) {
      if (column + 1 >= lines[i].size()) continue;
      write_lines(pos, i);
      size_t start = i;
      size_t width = min_width;
      for (; i < line1 && column + 1 < lines[i].size(); i++) {
        width = std::max(width, lines[i][column].width + kPadding);
      }
      widths.push_back(width);
      format(start, i);
      widths.pop_back();
      pos = i;
      i--;  // the loop's increment revisits line i, which ended the block
    }
    write_lines(pos, line1);
  };
  format(0, lines.size());
  return out;
}

std::string render_table(std::string_view format, const nlohmann::json& header,
                         std::span<const nlohmann::json> rows) {
  Template t = Template::parse(strip_table(format));
  std::string buf = t.execute_header(header) + "\n";
  for (const auto& row : rows) buf += t.execute(row) + "\n";
  return tabwrite(buf);
}

}  // namespace berth::cli
