// SPF worker pool: see spf_pool.h.
#include "policyd/spf_pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace sluice::policyd {
namespace {

// SpfChecker is move-only; std::function needs a copyable callable.
SpfCheckFn wrap(SpfChecker checker) {
  auto shared = std::make_shared<SpfChecker>(std::move(checker));
  return [shared](const SpfQuery& q) { return shared->check(q.client_ip, q.helo, q.mail_from); };
}

}  // namespace

SpfCheckFactory system_spf_factory() {
  return []() -> Result<SpfCheckFn> {
    auto checker = SpfChecker::create();
    if (!checker) return checker.error();
    return wrap(std::move(checker).value());
  };
}

SpfCheckFactory zone_spf_factory(std::vector<SpfZoneRecord> records) {
  return [records = std::move(records)]() -> Result<SpfCheckFn> {
    auto checker = SpfChecker::create_with_zone(records);
    if (!checker) return checker.error();
    return wrap(std::move(checker).value());
  };
}

Result<std::unique_ptr<SpfPool>> SpfPool::create(int workers, SpfCheckFactory factory, std::size_t max_queue) {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return make_error(Errc::kIo, std::string("eventfd: ") + std::strerror(errno));
  auto pool = std::make_unique<SpfPool>(Key{}, fd, max_queue, std::move(factory));
  pool->threads_.reserve(static_cast<std::size_t>(workers));
  try {
    for (int i = 0; i < workers; ++i) {
      pool->threads_.emplace_back([p = pool.get()](std::stop_token stop) { p->work(stop); });
    }
  } catch (const std::system_error& e) {
    // Out of threads (ulimit -u, memory): at a reload this must not end
    // the daemon. The threads already started are joined by the pool.
    return make_error(Errc::kIo, std::string("cannot start SPF worker threads: ") + e.what());
  }
  return pool;
}

SpfPool::SpfPool(Key, int event_fd, std::size_t max_queue, SpfCheckFactory factory)
    : event_fd_(event_fd), max_queue_(max_queue), factory_(std::move(factory)) {}

SpfPool::~SpfPool() {
  for (std::jthread& t : threads_) t.request_stop();
  for (std::jthread& t : threads_) {
    if (t.joinable()) t.join();
  }
  ::close(event_fd_);
}

bool SpfPool::submit(std::uint64_t token, SpfQuery query, Clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= max_queue_) return false;
    queue_.push_back(Job{token, std::move(query), deadline});
  }
  wake_.notify_one();
  deadlines_[token] = by_deadline_.emplace(deadline, token);
  return true;
}

std::vector<SpfDone> SpfPool::collect(Clock::time_point now) {
  std::uint64_t count = 0;
  while (::read(event_fd_, &count, sizeof count) < 0 && errno == EINTR) {
  }
  std::vector<SpfDone> finished;
  {
    std::lock_guard lock(mu_);
    finished.swap(done_);
  }
  std::vector<SpfDone> out;
  for (SpfDone& done : finished) {
    const auto it = deadlines_.find(done.token);
    if (it == deadlines_.end()) continue;  // timed out or forgotten already
    by_deadline_.erase(it->second);
    deadlines_.erase(it);
    out.push_back(std::move(done));
  }
  // Timeouts: the worker may still be in DNS; its late answer is dropped
  // above. The query is needed for the domain in the answer text, so the
  // outcome here names none: the caller has the query.
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
    const std::uint64_t token = by_deadline_.begin()->second;
    by_deadline_.erase(by_deadline_.begin());
    deadlines_.erase(token);
    out.push_back(SpfDone{token, SpfOutcome{SpfResult::kTempError, "", "no answer in time"}, true});
  }
  return out;
}

void SpfPool::forget(std::uint64_t token) {
  const auto it = deadlines_.find(token);
  if (it == deadlines_.end()) return;
  by_deadline_.erase(it->second);
  deadlines_.erase(it);
}

bool SpfPool::busy() const {
  std::lock_guard lock(mu_);
  return !queue_.empty() || running_ > 0 || !done_.empty();
}

void SpfPool::work(const std::stop_token& stop) {
  // Made here: a checker belongs to the thread that uses it.
  Result<SpfCheckFn> check = factory_();
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu_);
      if (!wake_.wait(lock, stop, [&] { return !queue_.empty(); })) return;  // stop requested
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    SpfDone done{job.token, {}, false};
    if (Clock::now() >= job.deadline) {
      // Answered as a timeout already; nobody waits for this one.
      done.timed_out = true;
      done.outcome = spf_temperror(job.query, "no answer in time");
    } else if (!check) {
      done.outcome = spf_temperror(job.query, "SPF checker unavailable: " + check.error().detail);
    } else {
      done.outcome = (*check)(job.query);
    }
    {
      std::lock_guard lock(mu_);
      --running_;
      done_.push_back(std::move(done));
    }
    const std::uint64_t one = 1;
    while (::write(event_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace sluice::policyd
