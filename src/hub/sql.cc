#include "hub/sql.h"

#include <chrono>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "base/strings.h"
#include "hub/sql_backends.h"

namespace berth::hub {

bool SqlRow::is_null(size_t i) const {
  if (i >= values_.size()) fail("sql row: column {} of {}", i, values_.size());
  return std::holds_alternative<std::nullptr_t>(values_[i]);
}

int64_t SqlRow::integer(size_t i) const {
  if (i >= values_.size()) fail("sql row: column {} of {}", i, values_.size());
  const SqlValue& v = values_[i];
  if (const auto* n = std::get_if<int64_t>(&v)) return *n;
  if (const auto* s = std::get_if<std::string>(&v)) {
    long long n = 0;
    if (!parse_int64(*s, &n)) fail("sql row: column {} is not an integer: \"{}\"", i, *s);
    return n;
  }
  return 0;
}

std::string SqlRow::text(size_t i) const {
  if (i >= values_.size()) fail("sql row: column {} of {}", i, values_.size());
  const SqlValue& v = values_[i];
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  return "";
}

std::unique_ptr<Database> open_database(const std::string& url) {
  std::string_view u = url;
  if (u.starts_with("postgres://") || u.starts_with("postgresql://")) return sql_internal::open_postgres(url);
  if (u.starts_with("sqlite://"))
    u.remove_prefix(9);
  else if (u.starts_with("sqlite:"))
    u.remove_prefix(7);
  if (u.empty()) fail("open database \"{}\": no file name", url);
  return sql_internal::open_sqlite(std::string(u));
}

void add_column_if_missing(Database& db, std::string_view table, std::string_view column, std::string_view type) {
  auto has_column = [&] {
    try {
      db.query(fmt::format("SELECT {} FROM {} LIMIT 0", column, table));
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  if (has_column()) return;
  try {
    db.exec(fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, column, type));
  } catch (const Error&) {
    if (!has_column()) throw;  // not a replica that added it first
  }
}

namespace sql_internal {

std::string statement_head(std::string_view sql) {
  constexpr size_t kWords = 4, kMaxChars = 60;
  std::string out;
  size_t words = 0;
  bool in_word = false;
  for (char c : sql) {
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (space) {
      if (in_word && ++words == kWords) break;
      in_word = false;
      continue;
    }
    if (!in_word && !out.empty()) out += ' ';
    in_word = true;
    out += c;
    if (out.size() >= kMaxChars) break;
  }
  return out;
}

namespace {

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Index just past the quoted run that starts at sql[i] (a ' or "); a doubled
// quote stays inside, as does a backslash-escaped one when `backslashes`.
size_t skip_quoted(std::string_view sql, size_t i, bool backslashes) {
  char q = sql[i++];
  while (i < sql.size()) {
    char c = sql[i];
    if (backslashes && c == '\\') {
      i += 2;
    } else if (c == q) {
      if (i + 1 < sql.size() && sql[i + 1] == q)
        i += 2;
      else
        return i + 1;
    } else {
      ++i;
    }
  }
  return sql.size();
}

}  // namespace

std::string rewrite_placeholders(std::string_view sql, size_t* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  size_t n = 0, i = 0;
  while (i < sql.size()) {
    char c = sql[i];
    size_t end = i + 1;
    if (c == '\'') {
      // E'...' strings take backslash escapes, so E'\'?' is one literal.
      bool e = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !ident_char(sql[i - 2]));
      end = skip_quoted(sql, i, e);
    } else if (c == '"') {
      end = skip_quoted(sql, i, false);
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      end = sql.find('\n', i);
      end = end == std::string_view::npos ? sql.size() : end;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      // PostgreSQL block comments nest.
      int depth = 1;
      end = i + 2;
      while (end < sql.size() && depth > 0) {
        if (sql.compare(end, 2, "/*") == 0) {
          ++depth;
          end += 2;
        } else if (sql.compare(end, 2, "*/") == 0) {
          --depth;
          end += 2;
        } else {
          ++end;
        }
      }
    } else if (c == '$' && (i == 0 || !ident_char(sql[i - 1]))) {
      // $tag$ ... $tag$ (the tag may be empty; $1 is a parameter, not a tag).
      size_t t = i + 1;
      if (t < sql.size() && !(sql[t] >= '0' && sql[t] <= '9')) {
        while (t < sql.size() && ident_char(sql[t])) ++t;
        if (t < sql.size() && sql[t] == '$') {
          std::string_view tag = sql.substr(i, t + 1 - i);
          size_t close = sql.find(tag, t + 1);
          end = close == std::string_view::npos ? sql.size() : close + tag.size();
        }
      }
    } else if (c == '?') {
      out += '$';
      out += std::to_string(++n);
      i = end;
      continue;
    }
    out.append(sql.substr(i, end - i));
    i = end;
  }
  *count = n;
  return out;
}

void retry_backoff(int attempt) {
  // Up to 1 ms, 2 ms, 4 ms, ... capped at 100 ms; the jitter comes from the
  // clock and the thread id so that no shared random state is needed.
  int64_t cap_us = std::min<int64_t>(int64_t{1000} << std::min(attempt - 1, 16), 100'000);
  uint64_t seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                  std::hash<std::thread::id>()(std::this_thread::get_id());
  seed ^= seed >> 33;
  seed *= 0xff51afd7ed558ccdULL;
  seed ^= seed >> 33;
  std::this_thread::sleep_for(
      std::chrono::microseconds(cap_us / 4 + static_cast<int64_t>(seed % (cap_us * 3 / 4 + 1))));
}

}  // namespace sql_internal
}  // namespace berth::hub
