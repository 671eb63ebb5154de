#include "hub/sql.h"

#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <stdexcept>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/fs.h"
#include "base/process.h"
#include "base/test_util.h"
#include "hub/sql_backends.h"

namespace berth::hub {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A throwaway PostgreSQL server from Debian's postgresql package: its own
// data directory, reachable only through a unix socket in that directory,
// with durability off (fsync) for speed. initdb and postgres refuse to run
// as root, so under root they run as the `postgres` system user.
class PostgresServer {
 public:
  PostgresServer() {
    std::string bin = find_bin_dir();
    std::vector<std::string> as_owner;
    if (::geteuid() == 0) {
      passwd* pw = ::getpwnam("postgres");
      if (!pw) fail("postgres tests: no `postgres` user (install the postgresql package, see scripts/packages.txt)");
      if (::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) fail_errno("chown {}", dir_.path());
      as_owner = {"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"};
    } else {
      as_owner = {"setpriv"};
    }
    std::vector<std::string> initdb = as_owner;
    initdb.insert(initdb.end(), {"--", bin + "/initdb", "-D", data(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                                 "--locale=C", "--no-sync"});
    ProcessResult r = run_process(initdb);
    if (!r.ok()) fail("postgres tests: initdb failed (status {}): {}{}", r.exit_code, r.out, r.err);

    std::vector<std::string> postgres = as_owner;
    // The server dies with the test process even if that crashes.
    postgres.insert(postgres.end(), {"--pdeathsig", "KILL", "--", bin + "/postgres", "-D", data(), "-k", dir_.path(),
                                     "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
                                     "full_page_writes=off"});
    int log = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (log < 0) fail_errno("open {}", log_path());
    pid_ = spawn_process(postgres, {-1, log, log}, true);
    ::close(log);

    std::string ping = "host=" + dir_.path() + " dbname=postgres user=postgres";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (PQping(ping.c_str()) != PQPING_OK) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        fail("postgres tests: the server exited: {}", read_file(log_path()));
      }
      if (std::chrono::steady_clock::now() > deadline)
        fail("postgres tests: no connection after 30s: {}", read_file(log_path()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    admin_ = open_database(uri("postgres"));
  }

  ~PostgresServer() {
    admin_.reset();
    if (pid_ < 0) return;
    ::kill(pid_, SIGINT);  // fast shutdown: disconnects clients, no checkpoint wait
    for (int i = 0; i < 500 && ::waitpid(pid_, nullptr, WNOHANG) != pid_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  std::string uri(const std::string& db) const {
    return "postgresql:///" + db + "?host=" + dir_.path() + "&user=postgres";
  }
  std::string socket_dir() const { return dir_.path(); }

  // A new, empty database, so each test starts from scratch.
  std::string create_database() {
    std::string name = "t" + std::to_string(++databases_);
    admin_->exec("CREATE DATABASE " + name);
    return name;
  }

 private:
  std::string data() const { return dir_ / "data"; }
  std::string log_path() const { return dir_ / "postgres.log"; }

  // The newest /usr/lib/postgresql/<version>/bin with both programs.
  static std::string find_bin_dir() {
    glob_t g{};
    std::vector<std::string> found;
    if (::glob("/usr/lib/postgresql/*/bin/postgres", 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        std::string dir = g.gl_pathv[i];
        dir.resize(dir.size() - std::string_view("/postgres").size());
        if (path_exists(dir + "/initdb")) found.push_back(dir);
      }
    ::globfree(&g);
    if (found.empty())
      fail(
          "postgres tests: no PostgreSQL server in /usr/lib/postgresql/*/bin (install the postgresql package, "
          "see scripts/packages.txt)");
    std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
      return std::stoi(a.substr(20)) < std::stoi(b.substr(20));  // after "/usr/lib/postgresql/"
    });
    return found.back();
  }

  test::TempDir dir_;
  pid_t pid_ = -1;
  std::unique_ptr<Database> admin_;
  int databases_ = 0;
};

// Starts the server on first use (so other suites in this binary do not pay
// for it) and stops it when all tests are done.
class PostgresEnvironment : public ::testing::Environment {
 public:
  PostgresServer& server() {
    if (!error_.empty()) throw Error(error_);  // do not retry a broken set-up in every test
    if (!server_) {
      try {
        server_ = std::make_unique<PostgresServer>();
      } catch (const Error& e) {
        error_ = e.what();
        throw;
      }
    }
    return *server_;
  }
  void TearDown() override { server_.reset(); }

 private:
  std::unique_ptr<PostgresServer> server_;
  std::string error_;
};

PostgresEnvironment* const postgres_env =
    static_cast<PostgresEnvironment*>(::testing::AddGlobalTestEnvironment(new PostgresEnvironment));

struct SqliteBackend {
  static std::unique_ptr<Database> open(const test::TempDir& dir) {
    return open_database("sqlite://" + (dir / "hub.db"));
  }
};

struct PostgresBackend {
  static std::unique_ptr<Database> open(const test::TempDir&) {
    PostgresServer& server = postgres_env->server();
    return open_database(server.uri(server.create_database()));
  }
};

template <typename Backend>
class SqlTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = Backend::open(dir_); }

  int64_t count(const std::string& table) { return db_->query("SELECT COUNT(*) FROM " + table)[0].integer(0); }

  test::TempDir dir_;
  std::unique_ptr<Database> db_;
};

struct BackendName {
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, SqliteBackend> ? "Sqlite" : "Postgres";
  }
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;
TYPED_TEST_SUITE(SqlTest, Backends, BackendName);

TYPED_TEST(SqlTest, ReportsItsDialect) {
  constexpr bool kSqlite = std::is_same_v<TypeParam, SqliteBackend>;
  EXPECT_EQ(this->db_->dialect(), kSqlite ? Database::Dialect::kSqlite : Database::Dialect::kPostgres);
}

TYPED_TEST(SqlTest, InsertsAndSelectsNullIntegerAndText) {
  Database& db = *this->db_;
  EXPECT_EQ(db.exec("CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT, note TEXT)"), 0);
  constexpr int64_t kBig = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(db.exec("INSERT INTO items (id, n, note) VALUES (?, ?, ?)", {"a", int64_t{42}, nullptr}), 1);
  EXPECT_EQ(db.exec("INSERT INTO items (id, n, note) VALUES (?, ?, ?)", {"b", kBig, "it's \"quoted\" – ünïcode"}), 1);
  EXPECT_EQ(db.exec("INSERT INTO items (id, n, note) VALUES (?, ?, ?)", {"c", nullptr, "7"}), 1);

  auto rows = db.query("SELECT id, n, note FROM items ORDER BY id");
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(rows[0].size(), 3u);
  EXPECT_EQ(rows[0].text(0), "a");
  EXPECT_FALSE(rows[0].is_null(1));
  EXPECT_EQ(rows[0].integer(1), 42);
  EXPECT_EQ(rows[0].text(1), "42");
  EXPECT_TRUE(rows[0].is_null(2));
  EXPECT_EQ(rows[0].text(2), "");
  EXPECT_EQ(rows[0].integer(2), 0);
  EXPECT_EQ(rows[1].integer(1), kBig);
  EXPECT_EQ(rows[1].text(2), "it's \"quoted\" – ünïcode");
  EXPECT_THROW(rows[1].integer(2), Error);  // text that is not a number
  EXPECT_TRUE(rows[2].is_null(1));
  EXPECT_EQ(rows[2].integer(2), 7);  // numeric text reads as an integer
  EXPECT_THROW(rows[0].text(3), Error);

  // Parameters in WHERE, and a changed-row count from exec().
  auto found = db.query("SELECT id FROM items WHERE n = ? OR note = ?", {int64_t{42}, "7"});
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(db.exec("UPDATE items SET note = ? WHERE n IS NULL OR n > ?", {"x", int64_t{0}}), 2);
  EXPECT_EQ(db.query("SELECT COUNT(*) FROM items WHERE note = ?", {"x"})[0].integer(0), 2);
  EXPECT_EQ(db.exec("DELETE FROM items WHERE id = ?", {"nope"}), 0);
  EXPECT_TRUE(db.query("SELECT id FROM items WHERE id = ?", {"nope"}).empty());
}

TYPED_TEST(SqlTest, RunsScriptsOfSeveralStatements) {
  Database& db = *this->db_;
  db.exec(
      "CREATE TABLE a (x TEXT PRIMARY KEY);\n"
      "CREATE TABLE b (y TEXT PRIMARY KEY);  -- trailing comment\n"
      "INSERT INTO a VALUES ('1');\n");
  EXPECT_EQ(this->count("a"), 1);
  EXPECT_EQ(this->count("b"), 0);
  EXPECT_THAT(test::error_of([&] {
                db.exec("INSERT INTO a VALUES (?); INSERT INTO b VALUES (?)", {"1", "2"});
              }),
              HasSubstr("INSERT INTO a"));
  // Inside a transaction a failing script leaves nothing behind.
  EXPECT_THROW(db.transaction([](Sql& tx) { tx.exec("INSERT INTO b VALUES ('1'); INSERT INTO a VALUES ('1');"); }),
               SqlConstraintError);
  EXPECT_EQ(this->count("b"), 0);
}

TYPED_TEST(SqlTest, AddsAMissingColumnOnce) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE a (x TEXT PRIMARY KEY)");
  db.exec("INSERT INTO a VALUES ('old')");
  add_column_if_missing(db, "a", "lease", "BIGINT");
  add_column_if_missing(db, "a", "lease", "BIGINT");  // already there: nothing to do
  db.exec("INSERT INTO a (x, lease) VALUES ('new', 7)");
  auto rows = db.query("SELECT x, lease FROM a ORDER BY x");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].integer(1), 7);
  EXPECT_TRUE(rows[1].is_null(1)) << "the old row reads NULL";
  EXPECT_THAT(test::error_of([&] { add_column_if_missing(db, "no_such_table", "c", "BIGINT"); }),
              HasSubstr("ALTER TABLE no_such_table"));
}

TYPED_TEST(SqlTest, OnConflictDoNothingAndDoUpdate) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE tags (name TEXT PRIMARY KEY, digest TEXT NOT NULL)");
  const char* kInsert = "INSERT INTO tags (name, digest) VALUES (?, ?) ON CONFLICT (name) DO NOTHING";
  EXPECT_EQ(db.exec(kInsert, {"latest", "sha256:1"}), 1);
  EXPECT_EQ(db.exec(kInsert, {"latest", "sha256:2"}), 0);
  EXPECT_EQ(db.query("SELECT digest FROM tags WHERE name = ?", {"latest"})[0].text(0), "sha256:1");
  EXPECT_EQ(db.exec("INSERT INTO tags (name, digest) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET digest = excluded.digest",
                    {"latest", "sha256:3"}),
            1);
  EXPECT_EQ(db.query("SELECT digest FROM tags WHERE name = ?", {"latest"})[0].text(0), "sha256:3");
  EXPECT_EQ(this->count("tags"), 1);
}

TYPED_TEST(SqlTest, ReturningGivesRows) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE repos (name TEXT PRIMARY KEY, stars BIGINT NOT NULL)");
  auto inserted =
      db.query("INSERT INTO repos (name, stars) VALUES (?, ?) RETURNING name, stars", {"alpine", int64_t{5}});
  ASSERT_EQ(inserted.size(), 1u);
  EXPECT_EQ(inserted[0].text(0), "alpine");
  EXPECT_EQ(inserted[0].integer(1), 5);
  auto updated = db.query("UPDATE repos SET stars = stars + 1 WHERE name = ? RETURNING stars", {"alpine"});
  ASSERT_EQ(updated.size(), 1u);
  EXPECT_EQ(updated[0].integer(0), 6);
  // DO NOTHING on a conflict returns no row: how callers tell "created" from "existed".
  EXPECT_TRUE(
      db.query("INSERT INTO repos (name, stars) VALUES (?, 0) ON CONFLICT (name) DO NOTHING RETURNING name", {"alpine"})
          .empty());
}

TYPED_TEST(SqlTest, UniqueViolationIsAConstraintError) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE users (name TEXT PRIMARY KEY, email TEXT UNIQUE)");
  db.exec("INSERT INTO users (name, email) VALUES (?, ?)", {"ann", "ann@example.com"});
  try {
    db.exec("INSERT INTO users (name, email) VALUES (?, ?)", {"bob", "ann@example.com"});
    FAIL() << "no error";
  } catch (const SqlConstraintError& e) {
    EXPECT_THAT(e.what(), HasSubstr("INSERT INTO users"));
  }
  EXPECT_THROW(db.query("INSERT INTO users (name) VALUES (?) RETURNING name", {"ann"}), SqlConstraintError);
  EXPECT_EQ(this->count("users"), 1);
}

TYPED_TEST(SqlTest, ForeignKeysAreEnforced) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE owners (name TEXT PRIMARY KEY)");
  db.exec("CREATE TABLE pets (name TEXT PRIMARY KEY, owner TEXT NOT NULL REFERENCES owners (name))");
  db.exec("INSERT INTO owners VALUES (?)", {"ann"});
  db.exec("INSERT INTO pets VALUES (?, ?)", {"rex", "ann"});
  EXPECT_THROW(db.exec("INSERT INTO pets VALUES (?, ?)", {"tom", "nobody"}), SqlConstraintError);
  EXPECT_THROW(db.exec("DELETE FROM owners WHERE name = ?", {"ann"}), SqlConstraintError);
}

TYPED_TEST(SqlTest, OtherErrorsNameTheStatementAndAreNotConstraintErrors) {
  Database& db = *this->db_;
  try {
    db.query("SELECT name FROM missing_table WHERE x = ?", {int64_t{1}});
    FAIL() << "no error";
  } catch (const SqlConstraintError&) {
    FAIL() << "a missing table is no constraint violation";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("SELECT name FROM missing_table"));
    // ... and carry the driver's message.
    EXPECT_THAT(e.what(), AnyOf(HasSubstr("no such table"), HasSubstr("does not exist")));
  }
  // Parameter count mismatches are caught before anything runs.
  db.exec("CREATE TABLE t (x TEXT)");
  EXPECT_THAT(test::error_of([&] { db.exec("INSERT INTO t VALUES (?)", {}); }), HasSubstr("INSERT INTO t"));
  EXPECT_THAT(test::error_of([&] { db.exec("INSERT INTO t VALUES (?)", {"a", "b"}); }), HasSubstr("parameters"));
  EXPECT_EQ(this->count("t"), 0);
}

TYPED_TEST(SqlTest, TransactionCommits) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE t (x TEXT PRIMARY KEY)");
  int runs = 0;
  db.transaction([&](Sql& tx) {
    ++runs;
    tx.exec("INSERT INTO t VALUES (?)", {"a"});
    tx.exec("INSERT INTO t VALUES (?)", {"b"});
    EXPECT_EQ(tx.query("SELECT COUNT(*) FROM t")[0].integer(0), 2);  // sees its own writes
  });
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(this->count("t"), 2);
}

TYPED_TEST(SqlTest, TransactionRollsBackWhenFnThrows) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE t (x TEXT PRIMARY KEY)");
  db.exec("INSERT INTO t VALUES ('keep')");
  int runs = 0;
  EXPECT_THROW(db.transaction([&](Sql& tx) {
    ++runs;
    tx.exec("INSERT INTO t VALUES (?)", {"a"});
    tx.exec("DELETE FROM t WHERE x = ?", {"keep"});
    throw std::runtime_error("changed my mind");
  }),
               std::runtime_error);
  EXPECT_EQ(runs, 1);  // an ordinary failure is not retried
  auto rows = db.query("SELECT x FROM t");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text(0), "keep");

  // A failing statement rolls back the statements before it as well.
  EXPECT_THROW(db.transaction([&](Sql& tx) {
    tx.exec("INSERT INTO t VALUES (?)", {"b"});
    tx.exec("INSERT INTO t VALUES (?)", {"keep"});
  }),
               SqlConstraintError);
  EXPECT_EQ(this->count("t"), 1);

  // The connection is fine afterwards (it went back to the pool out of the
  // transaction).
  db.transaction([&](Sql& tx) { tx.exec("INSERT INTO t VALUES (?)", {"c"}); });
  EXPECT_EQ(this->count("t"), 2);
}

TYPED_TEST(SqlTest, ConcurrentIncrementsInTransactionsAreExact) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE counters (id TEXT PRIMARY KEY, n BIGINT NOT NULL)");
  db.exec("INSERT INTO counters VALUES ('c', 0)");
  constexpr int kThreads = 8, kEach = 25;
  std::atomic<int> runs{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kEach; ++i)
          db.transaction([&](Sql& tx) {
            ++runs;
            // Read, then write what was read plus one: without isolation and
            // reruns on conflict, concurrent increments get lost.
            int64_t n = tx.query("SELECT n FROM counters WHERE id = ?", {"c"}).at(0).integer(0);
            tx.exec("UPDATE counters SET n = ? WHERE id = ?", {n + 1, "c"});
          });
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(t)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(db.query("SELECT n FROM counters WHERE id = ?", {"c"})[0].integer(0), kThreads * kEach);
  EXPECT_GE(runs.load(), kThreads * kEach);
  std::printf("%d transactions took %d runs\n", kThreads * kEach, runs.load());
}

TYPED_TEST(SqlTest, QuestionMarksInsideQuotesAreNotPlaceholders) {
  Database& db = *this->db_;
  db.exec("CREATE TABLE \"odd?table\" (\"what?\" TEXT, other TEXT)");
  EXPECT_EQ(db.exec("INSERT INTO \"odd?table\" (\"what?\", other) VALUES (?, 'lit?''?')", {"p?"}), 1);
  auto rows =
      db.query("SELECT \"what?\", other, '?' || ? FROM \"odd?table\" WHERE \"what?\" = ? -- trailing ?", {"x", "p?"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text(0), "p?");
  EXPECT_EQ(rows[0].text(1), "lit?'?");
  EXPECT_EQ(rows[0].text(2), "?x");
}

TYPED_TEST(SqlTest, ManyThreadsShareTheDatabase) {
  // Autocommit statements from many threads at once: the pool must hand
  // each its own connection (a shared one would interleave statements).
  Database& db = *this->db_;
  db.exec("CREATE TABLE events (id TEXT PRIMARY KEY, thread BIGINT NOT NULL)");
  constexpr int kThreads = 8, kEach = 20;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kEach; ++i) {
          std::string id = std::to_string(t) + "/" + std::to_string(i);
          db.exec("INSERT INTO events (id, thread) VALUES (?, ?)", {id, int64_t{t}});
          auto rows = db.query("SELECT thread FROM events WHERE id = ?", {id});
          if (rows.size() != 1 || rows[0].integer(0) != t) throw Error("read back " + id + " failed");
        }
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(t)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(this->count("events"), kThreads * kEach);
}

// --- SQLite only ---

TEST(SqliteDatabase, UsesWalModeAndKeepsDataInTheFile) {
  test::TempDir dir;
  std::string path = dir / "meta.db";
  {
    auto db = open_database(path);  // a plain path works too
    EXPECT_EQ(db->dialect(), Database::Dialect::kSqlite);
    EXPECT_EQ(db->query("PRAGMA journal_mode")[0].text(0), "wal");
    EXPECT_EQ(db->query("PRAGMA foreign_keys")[0].integer(0), 1);
    db->exec("CREATE TABLE t (x TEXT)");
    db->exec("INSERT INTO t VALUES (?)", {"persisted"});
  }
  EXPECT_TRUE(path_exists(path));
  auto db = open_database("sqlite://" + path);
  EXPECT_EQ(db->query("SELECT x FROM t")[0].text(0), "persisted");
}

TEST(SqliteDatabase, OpenFailsWithThePath) {
  EXPECT_THAT(test::error_of([] { open_database("sqlite:///nonexistent-dir/x/meta.db"); }),
              HasSubstr("/nonexistent-dir/x/meta.db"));
  EXPECT_THAT(test::error_of([] { open_database(":memory:"); }), HasSubstr(":memory:"));
}

// --- PostgreSQL only ---

class PostgresDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = PostgresBackend::open(dir_); }
  test::TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(PostgresDatabaseTest, ConflictingTransactionIsRerun) {
  Database& db = *db_;
  db.exec("CREATE TABLE counters (id TEXT PRIMARY KEY, n BIGINT NOT NULL)");
  db.exec("INSERT INTO counters VALUES ('c', 0)");
  int runs = 0;
  db.transaction([&](Sql& tx) {
    ++runs;
    int64_t n = tx.query("SELECT n FROM counters WHERE id = 'c'")[0].integer(0);
    // Another connection commits a change to the row this transaction has
    // read: updating it now is a serialization failure (40001).
    if (runs == 1) db.exec("UPDATE counters SET n = n + 100 WHERE id = 'c'");
    tx.exec("UPDATE counters SET n = ? WHERE id = 'c'", {n + 1});
  });
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(db.query("SELECT n FROM counters")[0].integer(0), 101);
}

TEST_F(PostgresDatabaseTest, ReplacesPooledConnectionsTheServerClosed) {
  Database& db = *db_;
  // Two pooled connections: the transaction holds A while query() borrows
  // B; afterwards A is on top of the idle stack, B below it.
  db.transaction([&](Sql& tx) {
    tx.query("SELECT 1");
    db.query("SELECT 1");
  });
  // From A, terminate B (and wait for it to go).
  auto killed = db.query(
      "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  ASSERT_EQ(killed.size(), 1u);
  EXPECT_EQ(killed[0].integer(0), 1);  // booleans read as integers
  // Both again: the autocommit query gets B, which must be replaced rather
  // than fail.
  int runs = 0;
  db.transaction([&](Sql& tx) {
    ++runs;
    EXPECT_EQ(tx.query("SELECT 1")[0].integer(0), 1);
    EXPECT_EQ(db.query("SELECT 2")[0].integer(0), 2);
  });
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(db.query("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()")[0].integer(0), 2);
}

TEST_F(PostgresDatabaseTest, SwallowedErrorInTransactionDoesNotCommitSilently) {
  Database& db = *db_;
  db.exec("CREATE TABLE t (x TEXT PRIMARY KEY)");
  db.exec("INSERT INTO t VALUES ('a')");
  EXPECT_THAT(test::error_of([&] {
                db.transaction([&](Sql& tx) {
                  tx.exec("INSERT INTO t VALUES ('b')");
                  try {
                    tx.exec("INSERT INTO t VALUES ('a')");
                  } catch (const SqlConstraintError&) {  // ignored: PostgreSQL aborts the transaction anyway
                  }
                });
              }),
              HasSubstr("COMMIT"));
  EXPECT_EQ(db.query("SELECT COUNT(*) FROM t")[0].integer(0), 1);
}

TEST_F(PostgresDatabaseTest, OpenFailureHidesThePassword) {
  std::string msg = test::error_of([] { open_database("postgresql://hub:s3cret@/hub?host=/nonexistent-dir"); });
  EXPECT_THAT(msg, HasSubstr("connect to postgres"));
  EXPECT_THAT(msg, Not(HasSubstr("s3cret")));
}

// --- placeholder rewriting ---

TEST(RewritePlaceholders, NumbersOnlyPlaceholdersOutsideQuotesAndComments) {
  size_t n = 0;
  EXPECT_EQ(sql_internal::rewrite_placeholders("SELECT ?, '?', \"?\", ?", &n), "SELECT $1, '?', \"?\", $2");
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(sql_internal::rewrite_placeholders("SELECT 'it''s ?' || ?", &n), "SELECT 'it''s ?' || $1");
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(sql_internal::rewrite_placeholders("SELECT E'\\'?', ? -- ?\n, ? /* ? /* ? */ ? */ ?", &n),
            "SELECT E'\\'?', $1 -- ?\n, $2 /* ? /* ? */ ? */ $3");
  EXPECT_EQ(n, 3u);
  // Backslashes are ordinary in standard strings: 'a\' ends the literal.
  EXPECT_EQ(sql_internal::rewrite_placeholders("SELECT 'a\\', ?", &n), "SELECT 'a\\', $1");
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(sql_internal::rewrite_placeholders("SELECT $$?$$, $tag$ ? $ ? $tag$, ?, a$b, ?", &n),
            "SELECT $$?$$, $tag$ ? $ ? $tag$, $1, a$b, $2");
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(sql_internal::rewrite_placeholders("SELECT '?", &n), "SELECT '?");  // unterminated: left alone
  EXPECT_EQ(n, 0u);
}

TEST(StatementHead, FirstWordsCollapsed) {
  EXPECT_EQ(sql_internal::statement_head("  INSERT INTO\n   repos (name, owner) VALUES (?, ?)"),
            "INSERT INTO repos (name,");
  EXPECT_EQ(sql_internal::statement_head("COMMIT"), "COMMIT");
}

TEST(SqlRow, ReadsValuesAsRequested) {
  SqlRow row({nullptr, int64_t{-3}, std::string("12"), std::string("12x")});
  EXPECT_TRUE(row.is_null(0));
  EXPECT_FALSE(row.is_null(1));
  EXPECT_EQ(row.integer(0), 0);
  EXPECT_EQ(row.text(1), "-3");
  EXPECT_EQ(row.integer(2), 12);
  EXPECT_THAT(test::error_of([&] { row.integer(3); }), HasSubstr("12x"));
  EXPECT_THROW(row.is_null(4), Error);
}

}  // namespace
}  // namespace berth::hub
