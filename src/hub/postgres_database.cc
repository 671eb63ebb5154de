// PostgreSQL backend: a pool of libpq connections. Statements go out with
// PQexecParams and text-format parameters of unspecified type, so the
// server infers each parameter's type from its use (a `?` compared with a
// BIGINT column is a BIGINT) just as SQLite's dynamic typing would accept
// it. Result columns of integer and boolean types come back as integers,
// everything else as text. libpq itself is loaded on first connection
// (libpq_dl.h), so a hub on SQLite never maps it.
#include <poll.h>

#include "base/strings.h"
#include "hub/libpq_dl.h"
#include "hub/sql_backends.h"

namespace berth::hub::sql_internal {
namespace {

// Several berth-hub replicas share the server's max_connections (100 by
// default), so each keeps its share small.
constexpr size_t kMaxConnections = 16;
// How often transaction() runs fn before giving up on conflicts. Generous,
// because under contention (many writers of one row) each round lets only
// one transaction through.
constexpr int kTransactionAttempts = 25;

// Type OIDs from PostgreSQL's catalog (pg_type.dat); stable across versions.
constexpr Oid kBoolOid = 16, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23, kOidOid = 26;

// libpq messages end in newlines and may span several lines; Error
// messages are single lines.
std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The URI with any password replaced, for error messages.
std::string redact(const std::string& uri) {
  size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  size_t at = uri.find('@', scheme + 3), slash = uri.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return uri;
  size_t colon = uri.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return uri;
  return uri.substr(0, colon + 1) + "***" + uri.substr(at);
}

using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

class PgConn : public Sql {
 public:
  explicit PgConn(const std::string& uri) {
    // Keywords after dbname override the URI's, those before it are
    // defaults the URI may override.
    const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", "client_encoding", nullptr};
    const char* vals[] = {"10", "berth-hub", uri.c_str(), "UTF8", nullptr};
    conn_ = pq_.PQconnectdbParams(keys, vals, 1);
    if (!conn_ || pq_.PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = conn_ ? one_line(pq_.PQerrorMessage(conn_)) : "out of memory";
      pq_.PQfinish(conn_);
      fail("connect to postgres {}: {}", redact(uri), msg);
    }
    // NOTICEs ("relation already exists, skipping") would go to stderr.
    pq_.PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~PgConn() override { pq_.PQfinish(conn_); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue>& params) override {
    Result res = run(sql, params);
    int n = pq_.PQntuples(res.get()), cols = pq_.PQnfields(res.get());
    std::vector<Oid> types;
    for (int c = 0; c < cols; ++c) types.push_back(pq_.PQftype(res.get(), c));
    std::vector<SqlRow> rows;
    rows.reserve(static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) {
      std::vector<SqlValue> values;
      values.reserve(static_cast<size_t>(cols));
      for (int c = 0; c < cols; ++c) {
        if (pq_.PQgetisnull(res.get(), r, c)) {
          values.emplace_back(nullptr);
          continue;
        }
        std::string_view v(pq_.PQgetvalue(res.get(), r, c), static_cast<size_t>(pq_.PQgetlength(res.get(), r, c)));
        Oid t = types[static_cast<size_t>(c)];
        long long i = 0;
        if (t == kBoolOid)
          values.emplace_back(int64_t{v == "t"});
        else if ((t == kInt8Oid || t == kInt4Oid || t == kInt2Oid || t == kOidOid) && parse_int64(v, &i))
          values.emplace_back(static_cast<int64_t>(i));
        else
          values.emplace_back(std::string(v));
      }
      rows.emplace_back(std::move(values));
    }
    return rows;
  }

  int64_t exec(std::string_view sql, const std::vector<SqlValue>& params) override {
    Result res = run(sql, params);
    long long n = 0;
    return parse_int64(pq_.PQcmdTuples(res.get()), &n) ? n : 0;  // "" for statements without a row count
  }

  // COMMIT, which PostgreSQL turns into a ROLLBACK (without an error) when a
  // statement of the transaction failed and the caller carried on.
  void commit() {
    Result res = run("COMMIT", {});
    if (std::string_view(pq_.PQcmdStatus(res.get())) != "COMMIT")
      fail("postgres COMMIT: the transaction was rolled back because one of its statements failed");
  }

  // The connection is lost (or was left inside a transaction): not fit to
  // be reused.
  bool broken() const { return pq_.PQstatus(conn_) != CONNECTION_OK || pq_.PQtransactionStatus(conn_) != PQTRANS_IDLE; }
  bool lost() const { return pq_.PQstatus(conn_) != CONNECTION_OK; }
  bool in_transaction() const { return pq_.PQtransactionStatus(conn_) != PQTRANS_IDLE; }
  // Set when the server reported a serialization failure or deadlock: the
  // transaction must be rerun rather than reported.
  bool conflict() const { return conflict_; }
  void clear_conflict() { conflict_ = false; }

  // An idle pooled connection the server has closed (restart, idle
  // timeout, pg_terminate_backend) has its FATAL message and EOF waiting on
  // the socket: noticing that before sending spares the caller an error for
  // a statement that could not have run anyway. libpq would take the FATAL
  // message for a notice and still report the connection as fine, and an
  // idle connection gets nothing else we use (no LISTEN), so anything to
  // read means: reconnect.
  void revive(const std::string& uri) {
    if (pq_.PQstatus(conn_) == CONNECTION_OK) {
      pollfd p{.fd = pq_.PQsocket(conn_), .events = POLLIN};
      if (p.fd >= 0 && ::poll(&p, 1, 0) == 0) return;
    }
    pq_.PQreset(conn_);
    if (pq_.PQstatus(conn_) != CONNECTION_OK)
      fail("reconnect to postgres {}: {}", redact(uri), one_line(pq_.PQerrorMessage(conn_)));
  }

 private:
  Result run(std::string_view sql, const std::vector<SqlValue>& params) {
    size_t count = 0;
    std::string text = rewrite_placeholders(sql, &count);
    if (count != params.size())
      fail("postgres {}: {} parameters given, {} expected", statement_head(sql), params.size(), count);
    PGresult* res;
    if (params.empty()) {
      // The simple protocol also runs scripts of several statements.
      res = pq_.PQexec(conn_, text.c_str());
    } else {
      std::vector<std::string> ints;
      ints.reserve(params.size());
      std::vector<const char*> values;
      for (const SqlValue& v : params) {
        if (const auto* n = std::get_if<int64_t>(&v)) {
          values.push_back(ints.emplace_back(std::to_string(*n)).c_str());
        } else if (const auto* s = std::get_if<std::string>(&v)) {
          if (s->find('\0') != std::string::npos)
            fail("postgres {}: text parameter contains a NUL byte", statement_head(sql));
          values.push_back(s->c_str());
        } else {
          values.push_back(nullptr);
        }
      }
      res = pq_.PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, 0);
    }
    Result owned(res, pq_.PQclear);
    ExecStatusType status = res ? pq_.PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return owned;
    if (status == PGRES_EMPTY_QUERY) fail("postgres: empty statement");
    std::string msg, sqlstate;
    if (const char* s = res ? pq_.PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr) sqlstate = s;
    if (const char* m = res ? pq_.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr) {
      msg = m;
      if (const char* d = pq_.PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) msg += fmt::format(" ({})", d);
    } else if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
      msg = "COPY is not supported";
    } else {
      msg = pq_.PQerrorMessage(conn_);
    }
    msg = fmt::format("postgres {}: {}", statement_head(sql), one_line(msg));
    if (sqlstate == "40001" || sqlstate == "40P01") conflict_ = true;
    // Class 23 is "integrity constraint violation": unique (23505), foreign
    // key (23503), not null, check; SQLite's SQLITE_CONSTRAINT covers the
    // same set.
    if (sqlstate.starts_with("23")) throw SqlConstraintError(msg);
    throw Error(msg);
  }

  // Loaded by the first connection; throws "PostgreSQL support needs
  // libpq5" out of the constructor when libpq.so.5 is missing.
  const Libpq& pq_ = pq();
  PGconn* conn_ = nullptr;
  bool conflict_ = false;
};

class PostgresDatabase : public Database {
 public:
  explicit PostgresDatabase(const std::string& uri)
      : uri_(uri), pool_(kMaxConnections, [uri] { return std::make_unique<PgConn>(uri); }) {
    pool_.take();  // fail now, not at the first query, if the server is unreachable
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue>& params) override {
    auto conn = take();
    return conn->query(sql, params);
  }

  int64_t exec(std::string_view sql, const std::vector<SqlValue>& params) override {
    auto conn = take();
    return conn->exec(sql, params);
  }

  void transaction(const std::function<void(Sql&)>& fn) override {
    for (int attempt = 1;; ++attempt) {
      auto conn = take();
      conn->clear_conflict();
      bool committing = false;
      try {
        conn->exec("BEGIN ISOLATION LEVEL SERIALIZABLE", {});
        fn(*conn);
        committing = true;
        conn->commit();
        return;
      } catch (...) {
        // A connection lost before COMMIT was sent took its transaction
        // with it, so rerunning is as safe as after a conflict; once COMMIT
        // is out, whether it happened is unknown and the error stands.
        bool retry = conn->conflict() || (conn->lost() && !committing);
        if (!conn->lost() && conn->in_transaction()) {
          try {
            conn->exec("ROLLBACK", {});
          } catch (const Error&) {  // the pool drops a connection left in a transaction
          }
        }
        if (!retry || attempt >= kTransactionAttempts) throw;
      }
      retry_backoff(attempt);
    }
  }

 private:
  ConnectionPool<PgConn>::Lease take() {
    auto conn = pool_.take();
    conn->revive(uri_);
    return conn;
  }

  const std::string uri_;
  ConnectionPool<PgConn> pool_;
};

}  // namespace

std::unique_ptr<Database> open_postgres(const std::string& conninfo) {
  return std::make_unique<PostgresDatabase>(conninfo);
}

}  // namespace berth::hub::sql_internal
