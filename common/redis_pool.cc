#include "common/redis_pool.h"

#include <utility>

namespace sluice {

RedisPool::RedisPool(RedisOptions options, std::size_t max_idle)
    : options_(std::move(options)), max_idle_(max_idle) {}

RedisPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_) pool_->release(std::move(conn_));
}

RedisPool::Lease RedisPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<RedisConn> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
  }
  return Lease(this, std::make_unique<RedisConn>(options_));
}

bool RedisPool::should_warn(std::chrono::seconds every) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_warning_s_.load();
  if (last != 0 && now - last < every.count()) return false;
  return last_warning_s_.compare_exchange_strong(last, now);
}

void RedisPool::release(std::unique_ptr<RedisConn> conn) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(conn));
}

}  // namespace sluice
