// SpfService: the event loop's side of SPF. It owns the current SpfPool
// (and pools retired by a reload until their last job is out), registers
// each pool's eventfd in the EventLoop, matches finished jobs to the waiter
// (a connection) that asked, and answers a waiter whose deadline passed
// with temperror.
//
// Threads: the loop's thread only (the pools' workers never call in here).
// Guarantees:
// - Each start() that returned true is answered exactly once through
//   SpfSink::on_spf_result, unless cancel(waiter) came first; a waiter has
//   at most one job: starting another cancels the first.
// - configure() keeps the pool when spf and spf_workers are unchanged;
//   otherwise the old pool is retired: it takes no new job, its jobs are
//   still answered, and it is destroyed (threads joined) only once idle, so
//   a reload never blocks the loop on a worker stuck in DNS.
// - The destructor joins the workers: a worker inside a DNS lookup delays
//   exit by at most the resolver's timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.h"
#include "common/event_loop.h"
#include "policyd/spf_pool.h"

namespace sluice::policyd {

class SpfSink {
 public:
  virtual ~SpfSink() = default;
  // |outcome| is the evaluation's, or temperror when the deadline passed
  // first (timed_out).
  virtual void on_spf_result(std::uint64_t waiter, const SpfOutcome& outcome, bool timed_out) = 0;
};

class SpfService {
 public:
  using Clock = std::chrono::steady_clock;

  SpfService(EventLoop& loop, SpfSink& sink, SpfCheckFactory factory = system_spf_factory(),
             std::size_t max_queue = SpfPool::kDefaultMaxQueue);
  ~SpfService();
  SpfService(const SpfService&) = delete;
  SpfService& operator=(const SpfService&) = delete;

  // Starts, keeps or retires the pool for |settings| (spf, spf_workers).
  void configure(const PolicydSettings& settings);
  // Queues |query| for |waiter|, to be answered within |timeout|. False when
  // it cannot be queued (SPF is off, the pool could not start, the queue is
  // full): nothing will be answered; the caller answers temperror itself.
  bool start(std::uint64_t waiter, SpfQuery query, std::chrono::milliseconds timeout);
  // |waiter| no longer wants its answer (the client left).
  void cancel(std::uint64_t waiter);
  // Answers waiters past their deadline; frees idle retired pools.
  void tick(Clock::time_point now);

  bool running() const { return current_ != nullptr; }
  std::size_t retired_pools() const { return retired_.size(); }
  std::size_t waiting() const { return waiters_.size(); }

 private:
  class Link;
  struct Wait {
    std::uint64_t token;
    Link* link;
    std::string domain;  // for a timeout's answer
  };

  void deliver(Link& link, Clock::time_point now);

  EventLoop& loop_;
  SpfSink& sink_;
  SpfCheckFactory factory_;
  std::size_t max_queue_;
  std::unique_ptr<Link> current_;
  std::vector<std::unique_ptr<Link>> retired_;
  std::unordered_map<std::uint64_t, Wait> waiters_;          // by waiter
  std::unordered_map<std::uint64_t, std::uint64_t> tokens_;  // token -> waiter
  std::uint64_t next_token_ = 1;
};

}  // namespace sluice::policyd
