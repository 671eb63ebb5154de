// Sql / Database: the hub's metadata lives behind this narrow SQL interface
// so the same statements run on SQLite (the default: one process, one file)
// and on PostgreSQL (several berth-hub replicas sharing one database).
//
// Contract:
// - Statements use `?` placeholders; the PostgreSQL backend rewrites them to
//   $1..$n (never inside quoted literals or comments), so PostgreSQL's `?`
//   operators are off limits. Values are NULL, 64-bit integers or text
//   (UTF-8, no NUL bytes); binary data never goes into the database.
// - Write portable SQL: TEXT/BIGINT columns, natural or random text keys (no
//   AUTOINCREMENT/SERIAL), INSERT ... ON CONFLICT ... DO NOTHING/UPDATE, and
//   RETURNING are fine on both.
// - Database is thread-safe: query()/exec() borrow a pooled connection and
//   run in autocommit mode, one connection per concurrent caller (SQLite is
//   in WAL mode: readers never wait for the writer). transaction(fn) runs fn
//   on one connection inside BEGIN (SQLite: BEGIN IMMEDIATE; PostgreSQL:
//   SERIALIZABLE), commits when fn returns, rolls back when it throws (the
//   exception propagates), and reruns fn (a bounded number of times, with
//   randomised backoff) when the database reports a conflict (SQLITE_BUSY /
//   serialization failure 40001 / deadlock 40P01) - on PostgreSQL also when
//   the connection was lost before COMMIT was sent.
//   So fn may run more than once, and must run its statements on the Sql it
//   is given (a statement on the Database would use another connection,
//   outside the transaction; on SQLite a write there waits for this
//   transaction's lock). fn should not swallow statement errors: PostgreSQL
//   aborts the transaction anyway, and COMMIT then throws.
// - exec() without params may run a script of several `;`-separated
//   statements (schema set-up); query() then returns the last one's rows.
//   Run it with the Sql of a transaction() to make it atomic on SQLite too.
// - Result columns of integer (and, on PostgreSQL, boolean: 0/1) types read
//   as integers, everything else as text; SqlRow converts either way.
// - Errors throw berth::Error naming the statement's first words and the
//   driver's message ("sqlite INSERT INTO users (name,: UNIQUE constraint
//   failed: users.name"); a constraint violation (unique, foreign key, not
//   null, check) throws SqlConstraintError.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/error.h"

namespace berth::hub {

using SqlValue = std::variant<std::nullptr_t, int64_t, std::string>;

class SqlConstraintError : public Error {
 public:
  using Error::Error;
};

// One result row; columns in SELECT order.
class SqlRow {
 public:
  explicit SqlRow(std::vector<SqlValue> values) : values_(std::move(values)) {}
  size_t size() const { return values_.size(); }
  bool is_null(size_t i) const;
  // NULL reads as 0 / "". Text that is not a number throws for integer().
  int64_t integer(size_t i) const;
  std::string text(size_t i) const;

 private:
  std::vector<SqlValue> values_;
};

// What one connection can do.
class Sql {
 public:
  virtual ~Sql() = default;
  virtual std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue>& params = {}) = 0;
  // Returns the number of rows changed.
  virtual int64_t exec(std::string_view sql, const std::vector<SqlValue>& params = {}) = 0;
};

class Database : public Sql {
 public:
  enum class Dialect { kSqlite, kPostgres };
  virtual Dialect dialect() const = 0;
  virtual void transaction(const std::function<void(Sql&)>& fn) = 0;
};

// url: "sqlite:///abs/path.db" or a plain file path (SQLite, created if
// missing, WAL mode), or "postgres://user:pass@host:port/db" /
// "postgresql://..." (libpq connection URI; host may be a socket directory
// as in libpq's "postgresql:///db?host=/run/dir"). Throws Error when the
// database cannot be opened.
std::unique_ptr<Database> open_database(const std::string& url);

// Adds column (with its SQL type, say "BIGINT") to a table an earlier version
// created without it: CREATE TABLE IF NOT EXISTS leaves an existing table as
// it was. New rows of old code read NULL there. Idempotent, and safe when
// replicas race to do it; throws Error when the table cannot take the column.
void add_column_if_missing(Database& db, std::string_view table, std::string_view column, std::string_view type);

}  // namespace berth::hub
