// SpfPool and SpfService: SPF off the event loop, with zone-backed
// checkers (no DNS) and scripted slow ones.
#include "policyd/spf_pool.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "policyd/spf_service.h"

namespace sluice::policyd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// pass.test authorises 192.0.2.0/24 and nobody else; temp.test's DNS fails.
const std::vector<SpfZoneRecord> kZone = {
    {SpfZoneRecord::Type::kTxt, "pass.test", "v=spf1 ip4:192.0.2.0/24 -all"},
    {SpfZoneRecord::Type::kTempFail, "temp.test", ""},
};

SpfQuery query(const char* ip, const char* from) { return SpfQuery{ip, "mx.sender.test", from}; }

// Collects until |want| results came out or 5 s passed (polling the eventfd
// as the loop would).
std::map<std::uint64_t, SpfDone> collect_all(SpfPool& pool, std::size_t want) {
  std::map<std::uint64_t, SpfDone> got;
  const auto give_up = Clock::now() + 5s;
  while (got.size() < want && Clock::now() < give_up) {
    pollfd pfd{pool.notify_fd(), POLLIN, 0};
    poll(&pfd, 1, 20);
    for (SpfDone& done : pool.collect(Clock::now())) got[done.token] = std::move(done);
  }
  return got;
}

// A checker that blocks until released (bounded: 5 s), counting its calls.
struct Gate {
  std::atomic<bool> open{false};
  std::atomic<int> calls{0};
  std::atomic<int> started{0};
  SpfCheckFactory factory() {
    return [this]() -> Result<SpfCheckFn> {
      return SpfCheckFn([this](const SpfQuery& q) {
        ++calls;
        ++started;
        const auto give_up = Clock::now() + 5s;
        while (!open && Clock::now() < give_up) std::this_thread::sleep_for(1ms);
        return SpfOutcome{SpfResult::kPass, spf_query_domain(q), "gate"};
      });
    };
  }
  void wait_started(int n) {
    const auto give_up = Clock::now() + 5s;
    while (started < n && Clock::now() < give_up) std::this_thread::sleep_for(1ms);
  }
};

TEST(SpfPool, PassFailAndTemperrorFromAZone) {
  auto pool = SpfPool::create(2, zone_spf_factory(kZone));
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  const auto deadline = Clock::now() + 5s;
  // Each row: token, query, want result.
  const struct {
    std::uint64_t token;
    SpfQuery query;
    SpfResult want;
  } cases[] = {
      {1, query("192.0.2.1", "a@pass.test"), SpfResult::kPass},
      {2, query("198.51.100.1", "a@pass.test"), SpfResult::kFail},
      {3, query("192.0.2.1", "a@temp.test"), SpfResult::kTempError},
  };
  for (const auto& c : cases) ASSERT_TRUE((*pool)->submit(c.token, c.query, deadline));
  auto got = collect_all(**pool, 3);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& c : cases) {
    EXPECT_EQ(got[c.token].outcome.result, c.want)
        << c.query.client_ip << " " << c.query.mail_from << ": got " << spf_result_name(got[c.token].outcome.result)
        << " (" << got[c.token].outcome.explanation << ")";
    EXPECT_FALSE(got[c.token].timed_out);
  }
  EXPECT_EQ(got[2].outcome.domain, "pass.test");
  EXPECT_EQ((*pool)->pending(), 0u);
  EXPECT_FALSE((*pool)->busy());
}

TEST(SpfPool, SlowJobTimesOutAndItsLateAnswerIsDropped) {
  Gate gate;
  auto pool = SpfPool::create(1, gate.factory());
  ASSERT_TRUE(pool.ok());
  const auto start = Clock::now();
  ASSERT_TRUE((*pool)->submit(7, query("192.0.2.1", "a@pass.test"), start + 50ms));
  gate.wait_started(1);
  EXPECT_TRUE((*pool)->collect(start + 10ms).empty()) << "before the deadline: nothing";
  auto timed_out = (*pool)->collect(start + 60ms);
  ASSERT_EQ(timed_out.size(), 1u);
  EXPECT_EQ(timed_out[0].token, 7u);
  EXPECT_TRUE(timed_out[0].timed_out);
  EXPECT_EQ(timed_out[0].outcome.result, SpfResult::kTempError);
  EXPECT_EQ((*pool)->pending(), 0u);
  EXPECT_TRUE((*pool)->busy()) << "the worker is still inside the slow check";
  gate.open = true;
  const auto give_up = Clock::now() + 5s;
  while ((*pool)->busy() && Clock::now() < give_up) {
    EXPECT_TRUE((*pool)->collect(Clock::now()).empty()) << "the late answer must not come out";
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_FALSE((*pool)->busy());
}

TEST(SpfPool, FullQueueRefusesAndExpiredJobsAreNotEvaluated) {
  Gate gate;
  auto pool = SpfPool::create(1, gate.factory(), /*max_queue=*/1);
  ASSERT_TRUE(pool.ok());
  const auto now = Clock::now();
  ASSERT_TRUE((*pool)->submit(1, query("192.0.2.1", "a@pass.test"), now + 5s));
  gate.wait_started(1);  // the worker holds job 1; the queue is empty again
  ASSERT_TRUE((*pool)->submit(2, query("192.0.2.1", "b@pass.test"), now + 20ms));
  EXPECT_FALSE((*pool)->submit(3, query("192.0.2.1", "c@pass.test"), now + 5s)) << "queue of 1 is full";
  // Job 2 expires while queued: answered as a timeout, never evaluated.
  std::this_thread::sleep_for(30ms);
  auto expired = (*pool)->collect(Clock::now());
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].token, 2u);
  EXPECT_TRUE(expired[0].timed_out);
  gate.open = true;
  auto got = collect_all(**pool, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[1].outcome.result, SpfResult::kPass);
  const auto give_up = Clock::now() + 5s;
  while ((*pool)->busy() && Clock::now() < give_up) {
    (void)(*pool)->collect(Clock::now());
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(gate.calls, 1) << "the expired job was skipped";
}

TEST(SpfPool, ForgottenTokenNeverComesOut) {
  auto pool = SpfPool::create(1, zone_spf_factory(kZone));
  ASSERT_TRUE(pool.ok());
  ASSERT_TRUE((*pool)->submit(1, query("192.0.2.1", "a@pass.test"), Clock::now() + 5s));
  ASSERT_TRUE((*pool)->submit(2, query("192.0.2.1", "a@pass.test"), Clock::now() + 5s));
  (*pool)->forget(1);
  auto got = collect_all(**pool, 1);
  EXPECT_EQ(got.count(1), 0u);
  EXPECT_EQ(got.count(2), 1u);
}

TEST(SpfPool, FailedCheckerAnswersTemperrorWithTheReason) {
  auto pool = SpfPool::create(1, []() -> Result<SpfCheckFn> { return make_error(Errc::kInternal, "no resolver"); });
  ASSERT_TRUE(pool.ok());
  ASSERT_TRUE((*pool)->submit(1, query("192.0.2.1", "a@pass.test"), Clock::now() + 5s));
  auto got = collect_all(**pool, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[1].outcome.result, SpfResult::kTempError);
  EXPECT_NE(got[1].outcome.explanation.find("no resolver"), std::string::npos) << got[1].outcome.explanation;
}

TEST(SpfPool, IdleWorkersStopAtOnce) {
  const auto start = Clock::now();
  {
    auto pool = SpfPool::create(8, zone_spf_factory(kZone));
    ASSERT_TRUE(pool.ok());
    ASSERT_TRUE((*pool)->submit(1, query("192.0.2.1", "a@pass.test"), Clock::now() + 5s));
    ASSERT_EQ(collect_all(**pool, 1).size(), 1u);
  }
  EXPECT_LT(Clock::now() - start, 2s);
}

// ---- SpfService on a real EventLoop ------------------------------------

struct Results : SpfSink {
  struct Got {
    SpfOutcome outcome;
    bool timed_out;
  };
  std::map<std::uint64_t, Got> got;
  void on_spf_result(std::uint64_t waiter, const SpfOutcome& outcome, bool timed_out) override {
    got[waiter] = Got{outcome, timed_out};
  }
};

// Runs |loop| (ticking |service|) until |results| holds |want| answers or 5 s pass.
void run_until(EventLoop& loop, SpfService& service, Results& results, std::size_t want) {
  const auto give_up = Clock::now() + 5s;
  loop.run(
      10ms,
      [&] {
        service.tick(Clock::now());
        if (results.got.size() >= want || Clock::now() > give_up) loop.stop();
      },
      [&] {
        if (results.got.size() >= want) loop.stop();
      });
}

PolicydSettings spf_settings(int workers) {
  PolicydSettings settings;
  settings.spf = true;
  settings.spf_workers = workers;
  return settings;
}

TEST(SpfService, AnswersThroughTheLoop) {
  EventLoop loop;
  Results results;
  SpfService service(loop, results, zone_spf_factory(kZone));
  service.configure(spf_settings(2));
  ASSERT_TRUE(service.running());
  ASSERT_TRUE(service.start(10, query("192.0.2.9", "x@pass.test"), 5s));
  ASSERT_TRUE(service.start(11, query("203.0.113.1", "x@pass.test"), 5s));
  run_until(loop, service, results, 2);
  ASSERT_EQ(results.got.size(), 2u);
  EXPECT_EQ(results.got[10].outcome.result, SpfResult::kPass);
  EXPECT_EQ(results.got[11].outcome.result, SpfResult::kFail);
  EXPECT_EQ(service.waiting(), 0u);
}

TEST(SpfService, SlowCheckIsAnsweredTemperrorAtTheTimeout) {
  EventLoop loop;
  Results results;
  Gate gate;
  SpfService service(loop, results, gate.factory());
  service.configure(spf_settings(1));
  const auto start = Clock::now();
  ASSERT_TRUE(service.start(5, query("192.0.2.1", "a@slow.test"), 100ms));
  run_until(loop, service, results, 1);
  const auto waited = Clock::now() - start;
  ASSERT_EQ(results.got.size(), 1u);
  EXPECT_TRUE(results.got[5].timed_out);
  EXPECT_EQ(results.got[5].outcome.result, SpfResult::kTempError);
  EXPECT_EQ(results.got[5].outcome.domain, "slow.test");
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 1s);
  gate.open = true;
}

TEST(SpfService, ReloadRetiresThePoolWithoutLosingItsJobs) {
  EventLoop loop;
  Results results;
  Gate gate;
  SpfService service(loop, results, gate.factory());
  service.configure(spf_settings(1));
  ASSERT_TRUE(service.start(1, query("192.0.2.1", "a@pass.test"), 5s));
  gate.wait_started(1);
  service.configure(spf_settings(1));
  EXPECT_EQ(service.retired_pools(), 0u) << "same settings: the pool is kept";
  service.configure(spf_settings(3));
  EXPECT_EQ(service.retired_pools(), 1u);
  ASSERT_TRUE(service.start(2, query("192.0.2.1", "b@pass.test"), 5s)) << "the new pool takes jobs";
  gate.open = true;
  run_until(loop, service, results, 2);
  EXPECT_EQ(results.got.size(), 2u) << "the retired pool's job was answered too";
  service.tick(Clock::now());
  EXPECT_EQ(service.retired_pools(), 0u) << "an idle retired pool is freed";
  PolicydSettings off;
  service.configure(off);
  EXPECT_FALSE(service.running());
  EXPECT_FALSE(service.start(3, query("192.0.2.1", "a@pass.test"), 5s)) << "SPF off: the caller answers itself";
}

TEST(SpfService, CancelledWaiterGetsNothingAndRestartReplacesAJob) {
  EventLoop loop;
  Results results;
  SpfService service(loop, results, zone_spf_factory(kZone));
  service.configure(spf_settings(1));
  ASSERT_TRUE(service.start(1, query("192.0.2.1", "a@pass.test"), 5s));
  service.cancel(1);
  ASSERT_TRUE(service.start(2, query("192.0.2.1", "a@pass.test"), 5s));
  ASSERT_TRUE(service.start(2, query("203.0.113.1", "a@pass.test"), 5s));  // replaces the first
  run_until(loop, service, results, 1);
  std::this_thread::sleep_for(50ms);
  service.tick(Clock::now());
  EXPECT_EQ(results.got.count(1), 0u);
  ASSERT_EQ(results.got.count(2), 1u);
  EXPECT_EQ(results.got[2].outcome.result, SpfResult::kFail) << "the second query's answer";
}

}  // namespace
}  // namespace sluice::policyd
