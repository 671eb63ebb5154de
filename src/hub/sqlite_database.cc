// SQLite backend: a pool of connections to one database file in WAL mode,
// so readers never wait for the (single) writer and each thread gets its
// own connection (opened SQLITE_OPEN_NOMUTEX: a connection is only ever used
// by the thread that borrowed it). Prepared statements are cached per
// connection, keyed by their text.
#include <sqlite3.h>

#include <unordered_map>

#include "hub/sql_backends.h"

namespace berth::hub::sql_internal {
namespace {

// How long a statement waits for another connection's write lock before
// failing with SQLITE_BUSY (a transaction is then retried from the start).
constexpr int kBusyTimeoutMs = 5000;
// Statements are built from string literals, so the set is small; the cap
// only guards against callers that build SQL text dynamically.
constexpr size_t kMaxCachedStatements = 128;
// Writers serialise on the database anyway; this only bounds the number of
// open file handles when many threads read at once.
constexpr size_t kMaxConnections = 32;
// BEGIN IMMEDIATE already waits out the busy timeout, so SQLITE_BUSY there
// means a writer is stuck; a couple more tries are enough.
constexpr int kTransactionAttemptsSqlite = 3;

class SqliteConn : public Sql {
 public:
  explicit SqliteConn(const std::string& path) : path_(path) {
    int rc =
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      fail("open sqlite database {}: {}", path, msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    try {
      auto mode = query("PRAGMA journal_mode=WAL", {});
      if (mode.empty() || mode[0].text(0) != "wal") fail("open sqlite database {}: cannot switch to WAL mode", path);
      // NORMAL is safe from corruption in WAL mode; a power loss may only
      // lose the last transactions, which is fine for metadata.
      exec("PRAGMA synchronous=NORMAL", {});
      exec("PRAGMA foreign_keys=ON", {});
    } catch (...) {
      close();
      throw;
    }
  }
  ~SqliteConn() override { close(); }
  SqliteConn(const SqliteConn&) = delete;
  SqliteConn& operator=(const SqliteConn&) = delete;

  std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue>& params) override {
    std::vector<SqlRow> rows;
    run(sql, params, &rows);
    return rows;
  }

  int64_t exec(std::string_view sql, const std::vector<SqlValue>& params) override {
    // total_changes rather than changes(): the latter still reports the last
    // INSERT/UPDATE/DELETE after a statement that changed nothing (DDL).
    int64_t before = sqlite3_total_changes64(db_);
    run(sql, params, nullptr);
    return sqlite3_total_changes64(db_) - before;
  }

  // Set when a statement failed because another connection held the lock;
  // the transaction then must be rerun rather than reported.
  bool conflict() const { return conflict_; }
  void clear_conflict() { conflict_ = false; }
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  // Not fit to go back to the pool: a transaction was left open.
  bool broken() const { return in_transaction(); }

 private:
  void close() {
    for (auto& [text, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  [[noreturn]] void raise(std::string_view sql, int rc) {
    std::string msg = fmt::format("sqlite {}: {}", statement_head(sql), sqlite3_errmsg(db_));
    int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) conflict_ = true;
    if (primary == SQLITE_CONSTRAINT) throw SqlConstraintError(msg);
    throw Error(msg);
  }

  // Resets a statement however the step loop ends, so it releases its read
  // snapshot and can be reused.
  struct ResetGuard {
    sqlite3_stmt* stmt;
    ~ResetGuard() {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    }
  };

  void run(std::string_view sql, const std::vector<SqlValue>& params, std::vector<SqlRow>* rows) {
    sqlite3_stmt* stmt = nullptr;
    std::string key(sql);
    if (auto it = cache_.find(key); it != cache_.end()) {
      stmt = it->second;
    } else {
      const char* tail = nullptr;
      int rc =
          sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
      if (rc != SQLITE_OK) raise(sql, rc);
      if (!stmt) fail("sqlite: empty statement");
      std::string_view rest = sql.substr(static_cast<size_t>(tail - sql.data()));
      if (!blank(rest)) {
        // A script of several statements (schema set-up): run them one by
        // one, uncached. Parameters would be ambiguous across statements.
        std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owner(stmt, sqlite3_finalize);
        if (!params.empty()) fail("sqlite {}: several statements cannot take parameters", statement_head(sql));
        step_all(sql, stmt, rows);
        run_script(rest, rows);
        return;
      }
      if (cache_.size() >= kMaxCachedStatements) {
        for (auto& [text, s] : cache_) sqlite3_finalize(s);
        cache_.clear();
      }
      cache_.emplace(std::move(key), stmt);
    }
    int expected = sqlite3_bind_parameter_count(stmt);
    if (static_cast<size_t>(expected) != params.size())
      fail("sqlite {}: {} parameters given, {} expected", statement_head(sql), params.size(), expected);
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1), rc = SQLITE_OK;
      const SqlValue& v = params[i];
      if (const auto* n = std::get_if<int64_t>(&v))
        rc = sqlite3_bind_int64(stmt, idx, *n);
      else if (const auto* s = std::get_if<std::string>(&v))
        rc = sqlite3_bind_text64(stmt, idx, s->data(), s->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      else
        rc = sqlite3_bind_null(stmt, idx);
      if (rc != SQLITE_OK) {
        sqlite3_clear_bindings(stmt);
        raise(sql, rc);
      }
    }
    step_all(sql, stmt, rows);
  }

  void run_script(std::string_view sql, std::vector<SqlRow>* rows) {
    while (!blank(sql)) {
      sqlite3_stmt* stmt = nullptr;
      const char* tail = nullptr;
      int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
      if (rc != SQLITE_OK) raise(sql, rc);
      if (!stmt) break;  // only comments left
      std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owner(stmt, sqlite3_finalize);
      if (rows) rows->clear();  // like PostgreSQL: the last statement's rows
      step_all(sql, stmt, rows);
      sql.remove_prefix(static_cast<size_t>(tail - sql.data()));
    }
  }

  void step_all(std::string_view sql, sqlite3_stmt* stmt, std::vector<SqlRow>* rows) {
    ResetGuard guard{stmt};
    int columns = sqlite3_column_count(stmt);
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return;
      if (rc != SQLITE_ROW) raise(sql, rc);
      if (!rows) continue;
      std::vector<SqlValue> values;
      values.reserve(static_cast<size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL:
            values.emplace_back(nullptr);
            break;
          case SQLITE_INTEGER:
            values.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
            break;
          default: {  // TEXT, and REAL/BLOB as their text
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            values.emplace_back(std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, c))));
          }
        }
      }
      rows->emplace_back(std::move(values));
    }
  }

  // Nothing but whitespace and statement separators.
  static bool blank(std::string_view s) {
    for (char c : s)
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ';') return false;
    return true;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  bool conflict_ = false;
};

class SqliteDatabase : public Database {
 public:
  explicit SqliteDatabase(const std::string& path)
      : pool_(kMaxConnections, [path] { return std::make_unique<SqliteConn>(path); }) {
    pool_.take();  // fail now, not at the first query, if the file is unusable
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue>& params) override {
    auto conn = pool_.take();
    return conn->query(sql, params);
  }

  int64_t exec(std::string_view sql, const std::vector<SqlValue>& params) override {
    auto conn = pool_.take();
    return conn->exec(sql, params);
  }

  void transaction(const std::function<void(Sql&)>& fn) override {
    auto conn = pool_.take();
    for (int attempt = 1;; ++attempt) {
      conn->clear_conflict();
      try {
        // IMMEDIATE takes the write lock up front (waiting up to the busy
        // timeout), so a transaction never fails half-way on upgrading a
        // read lock as a DEFERRED one can in WAL mode.
        conn->exec("BEGIN IMMEDIATE", {});
        fn(*conn);
        conn->exec("COMMIT", {});
        return;
      } catch (...) {
        bool conflict = conn->conflict();
        if (conn->in_transaction()) {
          try {
            conn->exec("ROLLBACK", {});
          } catch (const Error&) {
            conn.discard();  // unusable; the pool opens a fresh one
            throw;
          }
        }
        if (!conflict || attempt >= kTransactionAttemptsSqlite) throw;
      }
      retry_backoff(attempt);
    }
  }

 private:
  ConnectionPool<SqliteConn> pool_;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string& path) {
  if (path == ":memory:" || path.starts_with("file:"))
    fail("open sqlite database {}: only file paths are supported (each pooled connection needs the same file)", path);
  return std::make_unique<SqliteDatabase>(path);
}

}  // namespace berth::hub::sql_internal
