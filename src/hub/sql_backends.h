// Private to hub/sql*.cc (and sql_test.cc): the two Database backends behind
// open_database and the pieces they share: a bounded connection pool, the
// backoff between transaction() reruns, and statement text helpers.
//
// Contract: ConnectionPool hands each caller a connection of its own
// (opening one when none is idle and fewer than `max` exist, otherwise
// waiting) and takes it back afterwards, unless it reports broken() (lost,
// or left inside a transaction): that one is closed and forgotten, and a
// fresh one is opened when needed. The pool must outlive every Lease.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "hub/sql.h"

namespace berth::hub::sql_internal {

std::unique_ptr<Database> open_sqlite(const std::string& path);
// conninfo: a libpq URI ("postgresql://..." or "postgres://...").
std::unique_ptr<Database> open_postgres(const std::string& conninfo);

// The statement's first few words, whitespace collapsed ("INSERT INTO repos
// (name,"), so an error says which statement failed without quoting it all.
std::string statement_head(std::string_view sql);

// `?` -> $1, $2, ... outside '...' / E'...' literals, "..." identifiers,
// $tag$...$tag$ strings and -- / /* */ comments. *count receives the
// number of placeholders.
std::string rewrite_placeholders(std::string_view sql, size_t* count);

// Sleeps before attempt `attempt` (1-based, >= 1): randomised exponential
// backoff so colliding transactions do not collide again in lockstep.
void retry_backoff(int attempt);

template <typename Conn>
class ConnectionPool {
 public:
  using Opener = std::function<std::unique_ptr<Conn>()>;

  ConnectionPool(size_t max, Opener open) : max_(max), open_(std::move(open)) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A borrowed connection; returned to the pool on destruction unless
  // discard() was called (then the pool opens a fresh one when needed).
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Conn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_) pool_->give_back(std::move(conn_));
    }
    Conn& operator*() const { return *conn_; }
    Conn* operator->() const { return conn_.get(); }
    void discard() { conn_.reset(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  Lease take() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || count_ < max_; });
    if (!idle_.empty()) {
      // Most recently used first: its pages and statements are warm, and
      // the others may time out on the server without anyone noticing.
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++count_;
    lock.unlock();
    try {
      return Lease(this, open_());
    } catch (...) {
      give_back(nullptr);
      throw;
    }
  }

 private:
  void give_back(std::unique_ptr<Conn> conn) {
    if (conn && conn->broken()) conn.reset();  // closed outside the lock
    std::lock_guard lock(mu_);
    if (conn)
      idle_.push_back(std::move(conn));
    else
      --count_;
    cv_.notify_one();
  }

  const size_t max_;
  const Opener open_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t count_ = 0;  // open connections, idle or lent
  std::vector<std::unique_ptr<Conn>> idle_;
};

}  // namespace berth::hub::sql_internal
