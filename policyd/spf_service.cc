// SPF on the event loop: see spf_service.h.
#include "policyd/spf_service.h"

#include <sys/epoll.h>

#include <utility>

#include "common/log.h"

namespace sluice::policyd {

// A pool and its registration in the loop.
class SpfService::Link : public EventLoop::Handler {
 public:
  Link(SpfService& service, std::unique_ptr<SpfPool> pool) : service_(service), pool_(std::move(pool)) {
    registered_ = static_cast<bool>(service_.loop_.add(pool_->notify_fd(), EPOLLIN, this));
    if (!registered_) log_error("spf: cannot watch the worker pool; answers come with the tick only");
  }
  ~Link() override {
    if (registered_) service_.loop_.remove(pool_->notify_fd());
  }
  void on_io(std::uint32_t) override { service_.deliver(*this, Clock::now()); }
  SpfPool& pool() { return *pool_; }

 private:
  SpfService& service_;
  std::unique_ptr<SpfPool> pool_;
  bool registered_ = false;
};

SpfService::SpfService(EventLoop& loop, SpfSink& sink, SpfCheckFactory factory, std::size_t max_queue)
    : loop_(loop), sink_(sink), factory_(std::move(factory)), max_queue_(max_queue) {}

SpfService::~SpfService() {
  waiters_.clear();
  tokens_.clear();
  current_.reset();
  retired_.clear();
}

void SpfService::configure(const PolicydSettings& settings) {
  if (current_ && settings.spf && current_->pool().workers() == settings.spf_workers) return;
  if (current_) {
    retired_.push_back(std::move(current_));
    log_info("spf: worker pool retired (%s)", settings.spf ? "spf_workers changed" : "spf = no");
  }
  if (!settings.spf) return;
  auto pool = SpfPool::create(settings.spf_workers, factory_, max_queue_);
  if (!pool) {
    log_error("spf: cannot start the worker pool: %s; SPF answers temperror", pool.error().message().c_str());
    return;
  }
  current_ = std::make_unique<Link>(*this, std::move(pool).value());
  log_info("spf: %d worker threads", settings.spf_workers);
}

bool SpfService::start(std::uint64_t waiter, SpfQuery query, std::chrono::milliseconds timeout) {
  cancel(waiter);
  if (!current_) return false;
  const std::uint64_t token = next_token_++;
  std::string domain = spf_query_domain(query);
  if (!current_->pool().submit(token, std::move(query), Clock::now() + timeout)) return false;
  waiters_[waiter] = Wait{token, current_.get(), std::move(domain)};
  tokens_[token] = waiter;
  return true;
}

void SpfService::cancel(std::uint64_t waiter) {
  const auto it = waiters_.find(waiter);
  if (it == waiters_.end()) return;
  it->second.link->pool().forget(it->second.token);
  tokens_.erase(it->second.token);
  waiters_.erase(it);
}

void SpfService::deliver(Link& link, Clock::time_point now) {
  for (SpfDone& done : link.pool().collect(now)) {
    const auto token = tokens_.find(done.token);
    if (token == tokens_.end()) continue;
    const std::uint64_t waiter = token->second;
    tokens_.erase(token);
    const auto wait = waiters_.find(waiter);
    if (wait == waiters_.end()) continue;
    if (done.timed_out) done.outcome = SpfOutcome{SpfResult::kTempError, wait->second.domain, "no answer in time"};
    waiters_.erase(wait);
    // The sink may start another job for this waiter: the maps are
    // consistent already, and collect()'s vector is ours.
    sink_.on_spf_result(waiter, done.outcome, done.timed_out);
  }
}

void SpfService::tick(Clock::time_point now) {
  if (current_) deliver(*current_, now);
  for (auto& link : retired_) deliver(*link, now);
  // Retired pools with nothing left: their workers wait idle, so joining
  // them is immediate. Safe here: the loop's tick runs between batches.
  std::erase_if(retired_, [](const std::unique_ptr<Link>& link) {
    return link->pool().pending() == 0 && !link->pool().busy();
  });
}

}  // namespace sluice::policyd
