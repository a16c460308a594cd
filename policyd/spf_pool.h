// SpfPool: SPF evaluations off the event loop. libspf2 blocks on DNS, so
// each evaluation runs on one of a few worker threads (std::jthread), each
// with its own checker (SpfChecker is not thread-safe); the loop submits
// jobs and collects answers when notify_fd() (an eventfd) turns readable,
// and on its periodic tick for timeouts.
//
// Owns: the worker threads, a bounded FIFO of jobs, the finished results,
// the eventfd, and (loop side) the deadline of every job not yet collected.
//
// Threads: submit(), collect(), forget(), pending() and busy() are for the
// loop's thread only; the workers touch only the queue and the results,
// under one mutex. A worker never logs and never calls back into the loop.
//
// Guarantees:
// - Every submitted token comes out of collect() exactly once: with the
//   worker's outcome, or as a timeout (temperror) once its deadline passed,
//   whichever comes first; a late outcome is then dropped. forget()
//   withdraws a token (its client left): it never comes out.
// - submit() refuses (false) when max_queue jobs wait: the caller answers
//   temperror at once instead of queueing without bound.
// - A job whose deadline passed before a worker took it is not evaluated.
// - The destructor asks the workers to stop and joins them: queued jobs are
//   dropped; a worker inside a DNS lookup finishes it first (bounded by the
//   resolver's own timeout), so destroy a pool only when busy() is false if
//   the caller must not block.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "common/spf_check.h"
#include "policyd/spf_policy.h"

namespace sluice::policyd {

// One worker's evaluator: called on that worker's thread only.
using SpfCheckFn = std::function<SpfOutcome(const SpfQuery&)>;
// Makes a worker's evaluator, on the worker's own thread. An error makes
// that worker answer temperror with the reason.
using SpfCheckFactory = std::function<Result<SpfCheckFn>()>;

// The factory for the daemon: SpfChecker::create() (system resolver) per worker.
SpfCheckFactory system_spf_factory();
// A factory whose checkers answer from |records| only (tests).
SpfCheckFactory zone_spf_factory(std::vector<SpfZoneRecord> records);

struct SpfDone {
  std::uint64_t token = 0;
  SpfOutcome outcome;
  bool timed_out = false;  // the deadline passed first: outcome is temperror
};

class SpfPool {
  struct Key {
    explicit Key() = default;
  };

 public:
  using Clock = std::chrono::steady_clock;

  static inline constexpr std::size_t kDefaultMaxQueue = 10'000;

  // Starts |workers| threads. kIo if the eventfd or a thread cannot be made.
  static Result<std::unique_ptr<SpfPool>> create(int workers, SpfCheckFactory factory,
                                                 std::size_t max_queue = kDefaultMaxQueue);
  // For create() only (the key is private).
  SpfPool(Key, int event_fd, std::size_t max_queue, SpfCheckFactory factory);
  ~SpfPool();
  SpfPool(const SpfPool&) = delete;
  SpfPool& operator=(const SpfPool&) = delete;

  // Queues |query| under |token| (unique per pool), answered by |deadline|.
  // False when the queue is full: nothing was queued.
  bool submit(std::uint64_t token, SpfQuery query, Clock::time_point deadline);
  // Finished jobs and jobs past their deadline at |now|; clears the eventfd.
  std::vector<SpfDone> collect(Clock::time_point now);
  // The caller no longer wants |token|'s answer.
  void forget(std::uint64_t token);

  // Readable when collect() has finished jobs to return.
  int notify_fd() const { return event_fd_; }
  int workers() const { return static_cast<int>(threads_.size()); }
  // Tokens submitted and not yet collected or forgotten.
  std::size_t pending() const { return deadlines_.size(); }
  // Some job is queued, running or finished but not collected: destroying
  // the pool now may wait for a worker.
  bool busy() const;

 private:
  struct Job {
    std::uint64_t token;
    SpfQuery query;
    Clock::time_point deadline;
  };

  void work(const std::stop_token& stop);

  const int event_fd_;
  const std::size_t max_queue_;
  const SpfCheckFactory factory_;

  mutable std::mutex mu_;
  std::condition_variable_any wake_;
  std::deque<Job> queue_;         // guarded by mu_
  std::vector<SpfDone> done_;     // guarded by mu_
  std::size_t running_ = 0;       // guarded by mu_

  // Loop thread only: each pending token's deadline, and the tokens by deadline.
  std::unordered_map<std::uint64_t, std::multimap<Clock::time_point, std::uint64_t>::iterator> deadlines_;
  std::multimap<Clock::time_point, std::uint64_t> by_deadline_;

  // Last: destroyed (stopped and joined) before everything they use.
  std::vector<std::jthread> threads_;
};

}  // namespace sluice::policyd
