#include "cli/units.h"

#include <time.h>

#include <cmath>
#include <cstdio>
#include <regex>

#include "base/clock.h"
#include "base/error.h"

namespace berth::cli {
namespace {

std::string custom_size(const char* format, double size, double base, const char* const* units, int n) {
  int i = 0;
  while (size >= base && i < n - 1) {
    size /= base;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, format, size, units[i]);
  return buf;
}

constexpr const char* kDecimal[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
constexpr const char* kBinary[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};

// go-units parseSize with the given unit multipliers (k, m, g, t, p).
int64_t parse_size(std::string_view s, double base) {
  static const std::regex re(R"(^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$)");
  std::string str(s);
  std::smatch m;
  if (!std::regex_match(str, m, re)) fail("invalid size: '{}'", s);
  double size = std::stod(m[1].str());
  if (m[3].matched) {
    const std::string units = "kmgtp";
    size_t idx = units.find(static_cast<char>(std::tolower(m[3].str()[0])));
    size *= std::pow(base, static_cast<double>(idx + 1));
  }
  return static_cast<int64_t>(size);
}

}  // namespace

std::string human_size(double bytes, int precision) {
  std::string fmt = "%." + std::to_string(precision) + "g%s";
  return custom_size(fmt.c_str(), bytes, 1000.0, kDecimal, 9);
}

std::string bytes_size(double bytes) { return custom_size("%.4g%s", bytes, 1024.0, kBinary, 9); }

int64_t ram_in_bytes(std::string_view s) { return parse_size(s, 1024.0); }
int64_t from_human_size(std::string_view s) { return parse_size(s, 1000.0); }

std::string human_duration(int64_t nanos) {
  int64_t seconds = nanos / 1000000000;
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return fmt::format("{} seconds", seconds);
  int64_t minutes = seconds / 60;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return fmt::format("{} minutes", minutes);
  // Go's d.Round(time.Hour): halves round away from zero.
  int64_t hour = 3600LL * 1000000000;
  int64_t hours = (nanos + hour / 2) / hour;
  if (hours == 1) return "About an hour";
  if (hours < 48) return fmt::format("{} hours", hours);
  if (hours < 24 * 7 * 2) return fmt::format("{} days", hours / 24);
  if (hours < 24 * 30 * 2) return fmt::format("{} weeks", hours / 24 / 7);
  if (hours < 24 * 365 * 2) return fmt::format("{} months", hours / 24 / 30);
  return fmt::format("{} years", nanos / hour / 24 / 365);
}

std::string time_ago(int64_t then_sec, int64_t now_sec) {
  return human_duration((now_sec - then_sec) * 1000000000) + " ago";
}

int64_t parse_go_duration(std::string_view orig) {
  std::string_view s = orig;
  auto bad = [&]() -> int64_t { fail("time: invalid duration \"{}\"", orig); };
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) bad();
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) bad();
    double v = std::stod(std::string(s.substr(0, i)));
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !std::isdigit(static_cast<unsigned char>(s[j])) && s[j] != '.') ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else if (unit.empty()) fail("time: missing unit in duration \"{}\"", orig);
    else fail("time: unknown unit \"{}\" in duration \"{}\"", unit, orig);
    total += v * mult;
  }
  int64_t n = static_cast<int64_t>(std::llround(total));
  return neg ? -n : n;
}

std::string go_duration_string(int64_t d) {
  if (d == 0) return "0s";
  std::string sign = d < 0 ? "-" : "";
  uint64_t u = d < 0 ? static_cast<uint64_t>(-d) : static_cast<uint64_t>(d);
  auto frac = [](uint64_t v, uint64_t unit) {
    std::string f = fmt::format("{}", v / unit);
    uint64_t rem = v % unit;
    if (rem) {
      std::string digits = fmt::format("{:0{}}", rem, std::to_string(unit).size() - 1);
      while (!digits.empty() && digits.back() == '0') digits.pop_back();
      f += "." + digits;
    }
    return f;
  };
  if (u < 1000) return sign + fmt::format("{}ns", u);
  if (u < 1000000) return sign + frac(u, 1000) + "µs";
  if (u < 1000000000) return sign + frac(u, 1000000) + "ms";
  std::string out;
  uint64_t secs = u / 1000000000, hours = secs / 3600, mins = secs / 60 % 60;
  if (hours) out += fmt::format("{}h", hours);
  if (hours || mins) out += fmt::format("{}m", mins);
  out += frac(u % 60000000000ULL, 1000000000) + "s";
  return sign + out;
}

std::string go_time_string(int64_t unix_sec) {
  time_t t = unix_sec;
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[96];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
  return buf;
}

std::string api_timestamp(std::string_view value, int64_t now_nanos) {
  // A duration: "10m", "1h30m".
  try {
    int64_t d = parse_go_duration(value);
    int64_t t = now_nanos - d;
    return fmt::format("{}.{:09}", t / 1000000000, t % 1000000000);
  } catch (const Error&) {
  }
  std::string v(value);
  static const std::regex unix_re(R"(^\d+(\.\d{1,9})?$)");
  if (std::regex_match(v, unix_re) && v.find('-') == std::string::npos) return v;
  long long nanos;
  if (parse_rfc3339_nano(v, &nanos)) return fmt::format("{}.{:09}", nanos / 1000000000, nanos % 1000000000);
  // Dates without a zone are local times, as docker reads them.
  static const char* const kLayouts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H", "%Y-%m-%d"};
  for (const char* layout : kLayouts) {
    struct tm tm = {};
    const char* end = strptime(v.c_str(), layout, &tm);
    if (end && *end == '\0') {
      tm.tm_isdst = -1;
      return fmt::format("{}.000000000", static_cast<long long>(mktime(&tm)));
    }
  }
  fail("failed to parse value as time or duration: \"{}\"", value);
}

std::string ellipsis(std::string_view s, size_t width) {
  if (width == 0) return "";
  // Count code points: docker counts display width, which is the same for
  // the text a container's command usually holds.
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  if (width == 1) return std::string(s.substr(0, starts.size() > 1 ? starts[1] : s.size()));
  if (starts.size() <= width) return std::string(s);
  return std::string(s.substr(0, starts[width - 1])) + "…";
}

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);  // UTF-8 passes through (printable runes)
    }
  }
  return out + "\"";
}

std::string truncate_id(std::string_view id) {
  size_t colon = id.find(':');
  if (colon != std::string_view::npos) id.remove_prefix(colon + 1);
  return std::string(id.substr(0, 12));
}

}  // namespace berth::cli
