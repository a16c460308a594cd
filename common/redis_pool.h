// RedisPool: blocking Redis connections shared by the threads of a
// multi-threaded program (sluice-milter: libmilter runs a thread per SMTP
// connection). A thread leases one connection for a short exchange and
// gives it back, so N threads need at most N connections and an idle relay
// keeps a few open instead of one per SMTP session.
//
// Connections are returned to the pool whatever happened: RedisConn keeps
// its own back-off window after a failure, so a dead Redis costs each lease
// a fast kUnavailable instead of a fresh connect timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "common/redis_conn.h"

namespace sluice {

class RedisPool {
 public:
  // Keeps at most |max_idle| connections between leases; more may exist
  // while many threads hold one at once.
  explicit RedisPool(RedisOptions options, std::size_t max_idle = 32);

  class Lease {
   public:
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) noexcept = delete;
    ~Lease();
    RedisConn& operator*() { return *conn_; }
    RedisConn* operator->() { return conn_.get(); }

   private:
    friend class RedisPool;
    Lease(RedisPool* pool, std::unique_ptr<RedisConn> conn) : pool_(pool), conn_(std::move(conn)) {}
    RedisPool* pool_;
    std::unique_ptr<RedisConn> conn_;
  };

  Lease acquire();
  const RedisOptions& options() const { return options_; }

  // True at most once per |every|: a Redis outage is reported, not once per
  // message.
  bool should_warn(std::chrono::seconds every = std::chrono::seconds(60));

 private:
  void release(std::unique_ptr<RedisConn> conn);

  RedisOptions options_;
  std::size_t max_idle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<RedisConn>> idle_;
  std::atomic<std::int64_t> last_warning_s_{0};
};

}  // namespace sluice
