#include "cli/jsonmessage.h"

#include <time.h>

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "base/error.h"
#include "cli/terminal.h"
#include "cli/units.h"

namespace berth::cli {

using nlohmann::json;

namespace {

// Fields of the wrong type read as absent: the daemon's output is shown on a
// best-effort basis, as Go's decoder would show the fields it understood.
std::string str_field(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t int_field(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_number() ? it->get<int64_t>() : 0;
}

// Go decodes "progressDetail": {} into a non-nil pointer: an empty detail
// still marks a layer's line ("Pulling fs layer"), which matters for the
// terminal layout; null or a missing key is no detail at all.
std::optional<JsonProgress> progress_of(const json& m) {
  auto it = m.find("progressDetail");
  if (it == m.end() || !it->is_object()) return std::nullopt;
  JsonProgress p;
  p.current = int_field(*it, "current");
  p.total = int_field(*it, "total");
  p.start = int_field(*it, "start");
  auto hide = it->find("hidecounts");
  p.hide_counts = hide != it->end() && hide->is_boolean() && hide->get<bool>();
  p.units = str_field(*it, "units");
  return p;
}

int64_t clock_nanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

constexpr int64_t kSecond = 1000000000;

}  // namespace

std::string format_progress(const JsonProgress& p, int width, int64_t now_nanos) {
  if (p.current <= 0 && p.total <= 0) return "";
  // go-units HumanSize: four significant digits ("36.45kB", "1.069MB").
  auto human = [](int64_t n) { return human_size(static_cast<double>(n), 4); };
  if (p.total <= 0) {
    if (p.units.empty()) return fmt::format("{:>8}", human(p.current));
    return fmt::format("{} {}", p.current, p.units);
  }
  double ratio = static_cast<double>(p.current) / static_cast<double>(p.total);
  int percentage = std::min(50, static_cast<int>(ratio * 100) / 2);
  std::string bar, numbers, time_left;
  if (width > 110) {
    int filled = std::max(0, percentage);
    bar = "[" + std::string(filled, '=') + ">" + std::string(std::max(0, 50 - percentage), ' ') + "] ";
  }
  if (!p.hide_counts) {
    // A current beyond the total is a confused sender: docker drops the total.
    if (p.units.empty())
      numbers = p.current > p.total ? fmt::format("{:>8}", human(p.current))
                                    : fmt::format("{:>8}/{}", human(p.current), human(p.total));
    else
      numbers = p.current > p.total ? fmt::format("{} {}", p.current, p.units)
                                    : fmt::format("{}/{} {}", p.current, p.total, p.units);
  }
  if (p.current > 0 && p.start > 0 && percentage < 50) {
    int64_t per_entry = (now_nanos - p.start * kSecond) / p.current;
    int64_t left = (p.total - p.current) * per_entry / kSecond * kSecond;
    if (width > 50) time_left = " " + go_duration_string(left);
  }
  return bar + numbers + time_left;
}

JsonMessageDisplay::JsonMessageDisplay(Writer out, Options opts)
    : out_(std::move(out)), opts_(std::move(opts)), lines_([this](const json& m) { display(m); }) {
  if (!opts_.width) opts_.width = [] { return 200; };
  if (!opts_.now_nanos) opts_.now_nanos = clock_nanos;
}

void JsonMessageDisplay::display(const json& m) {
  if (!m.is_object()) fail("invalid message in the daemon's progress stream: {}", m.dump());
  if (auto aux = m.find("aux"); aux != m.end() && !aux->is_null()) {
    if (opts_.aux) opts_.aux(*aux);
    return;
  }
  std::string id = str_field(m, "id");
  unsigned diff = 0;
  std::string out;
  if (!id.empty() && (progress_of(m) || !str_field(m, "progress").empty())) {
    // A new id takes the line below the block; the cursor always rests
    // below the block, so an id's line is `diff` lines up.
    auto [it, added] = lines_of_.try_emplace(id, static_cast<unsigned>(lines_of_.size()));
    if (added && opts_.terminal) out += "\n";
    diff = static_cast<unsigned>(lines_of_.size()) - it->second;
    if (opts_.terminal && diff) out += fmt::format("\x1b[{}A", diff);
  } else {
    // Anything else scrolls the block away: later progress must not
    // rewrite lines of an earlier operation (pull -a, one tag after another).
    lines_of_.clear();
  }
  std::optional<std::string> error;
  if (auto e = m.find("errorDetail"); e != m.end() && e->is_object()) {
    error = str_field(*e, "message");
    if (error->empty()) error = str_field(m, "error");
  } else if (std::string e = str_field(m, "error"); !e.empty()) {
    error = e;  // a sender that only fills the deprecated field
  } else {
    show(m, out);
  }
  if (!id.empty() && opts_.terminal && diff) out += fmt::format("\x1b[{}B", diff);
  if (!out.empty()) out_(out);
  if (error) throw Error(*error);
}

void JsonMessageDisplay::show(const json& m, std::string& out) const {
  std::string stream = str_field(m, "stream"), status = str_field(m, "status");
  std::optional<JsonProgress> progress = progress_of(m);
  std::string end;
  if (opts_.terminal && stream.empty() && progress) {
    out += "\x1b[2K\r";
    end = "\r";
  } else if (progress && !format_progress(*progress, 200, 0).empty()) {
    return;  // a bar without a terminal to redraw it on
  }
  if (std::string id = str_field(m, "id"); !id.empty()) out += id + ": ";
  if (std::string from = str_field(m, "from"); !from.empty()) out += "(from " + from + ") ";
  if (progress && opts_.terminal) {
    out += status + " " + format_progress(*progress, opts_.width(), opts_.now_nanos()) + end;
  } else if (std::string pm = str_field(m, "progress"); !pm.empty()) {
    out += status + " " + pm + end;
  } else if (!stream.empty()) {
    out += stream + end;
  } else {
    out += status + end + "\n";
  }
}

JsonMessageDisplay stdout_display(bool quiet) {
  JsonMessageDisplay::Options o;
  o.terminal = !quiet && is_terminal(1);
  o.width = [] {
    WindowSize ws = window_size(1);
    return ws.cols ? static_cast<int>(ws.cols) : 200;
  };
  if (quiet) return JsonMessageDisplay([](std::string_view) {}, std::move(o));
  return JsonMessageDisplay([](std::string_view d) { write_all(1, d); }, std::move(o));
}

}  // namespace berth::cli
