#include "bounce/breaker.h"

#include <gtest/gtest.h>

#include <mutex>

#include "common/log.h"
#include "tests/unit/support/flushed_redis_test.h"

namespace sluice::bounce {
namespace {

constexpr std::string_view kPrefix = "sluice:v1:";

ReputationSettings settings(std::optional<double> pause_bounce = 0.10, std::optional<double> pause_complaint = {}) {
  ReputationSettings s;
  s.min_volume = 100;
  s.warn_bounce_rate = 0.02;
  s.warn_complaint_rate = 0.001;
  s.pause_bounce_rate = pause_bounce;
  s.pause_complaint_rate = pause_complaint;
  return s;
}

TEST(Reputation, Judge) {
  struct Case {
    ReputationCounts counts;
    bool counted, warn_bounce, warn_complaint;
    const char* pause;
    const char* why;
  } cases[] = {
      {{99, 50, 0, 0, 10, 0}, false, false, false, "", "under min_volume: nothing counts"},
      {{1000, 20, 0, 0, 1, 0}, true, false, false, "", "exactly at the warn levels: not above"},
      {{1000, 21, 0, 0, 0, 0}, true, true, false, "", "bounce warn"},
      {{1000, 0, 0, 0, 2, 0}, true, false, true, "", "complaint warn"},
      {{1000, 125, 0, 0, 0, 0}, true, true, false, "bounce rate 12.5% (125/1000) over 24h", "bounce pause"},
      {{0, 5, 0, 0, 0, 0}, false, false, false, "", "nothing sent"},
  };
  for (const Case& c : cases) {
    const ReputationVerdict v = judge_reputation(c.counts, settings());
    EXPECT_EQ(v.counted, c.counted) << c.why;
    EXPECT_EQ(v.warn_bounce, c.warn_bounce) << c.why;
    EXPECT_EQ(v.warn_complaint, c.warn_complaint) << c.why;
    EXPECT_EQ(v.pause_reason, c.pause) << c.why;
  }
  const ReputationVerdict complaint =
      judge_reputation({2000, 0, 0, 0, 10, 0}, settings(std::nullopt, 0.004));
  EXPECT_EQ(complaint.pause_reason, "complaint rate 0.5% (10/2000) over 24h");
}

TEST(Reputation, FormatsRatesAndKeys) {
  EXPECT_EQ(format_rate(0.125), "12.5%");
  EXPECT_EQ(format_rate(0.001), "0.1%");
  EXPECT_EQ(format_rate(1), "100%");
  EXPECT_EQ(pause_key("p:", "a:b"), "p:pause:a%3Ab");
  EXPECT_EQ(reputation_bucket_stem("p:", "a%b"), "p:rep:a%25b:");
  auto parsed = parse_reputation_bucket_key("p:", "p:rep:a%3Ab%25c:480000");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->first, "a:b%c");
  EXPECT_EQ(parsed->second, 480000);
  EXPECT_FALSE(parse_reputation_bucket_key("p:", "p:rep:alice"));
  EXPECT_FALSE(parse_reputation_bucket_key("p:", "p:pause:alice"));
  EXPECT_FALSE(parse_reputation_bucket_key("p:", "p:rep:alice:12x"));
}

class BreakerTest : public sluice::test::FlushedRedisTest {
 protected:
  void SetUp() override {
    FlushedRedisTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    log_set_sink([this](LogLevel level, std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      if (level == LogLevel::kWarning) warnings_.emplace_back(line);
    });
  }
  void TearDown() override { log_set_sink(nullptr); }

  void bucket(long long hours_ago, long long sent, long long hard, long long complaint = 0) {
    const long long hour = redis_now_ms() / 3'600'000 - hours_ago;
    const std::string key = reputation_bucket_stem(kPrefix, "alice") + std::to_string(hour);
    ASSERT_TRUE(conn_->command({"HSET", key, "sent", std::to_string(sent), "hard", std::to_string(hard), "complaint",
                                std::to_string(complaint), "soft", "1"})
                    .ok());
  }

  std::vector<std::string> warnings() {
    std::lock_guard<std::mutex> lock(mu_);
    return warnings_;
  }

  std::mutex mu_;
  std::vector<std::string> warnings_;
};

TEST_F(BreakerTest, SumsTheWindowOnly) {
  bucket(0, 100, 1);
  bucket(23, 100, 2);
  bucket(24, 1000, 500);  // just outside 24 hours
  auto counts = read_reputation(*conn_, kPrefix, "alice", settings());
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->sent, 200);
  EXPECT_EQ(counts->hard, 3);
  EXPECT_EQ(counts->soft, 2);
}

TEST_F(BreakerTest, WarnsOncePerHourAndPausesWithTheReason) {
  bucket(0, 500, 30);
  bucket(5, 500, 95);
  auto first = run_breaker(*conn_, kPrefix, "alice", settings());
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_TRUE(first->warn_bounce_logged);
  EXPECT_TRUE(first->paused_now);
  auto pause = conn_->command({"GET", pause_key(kPrefix, "alice")});
  ASSERT_TRUE(pause.ok());
  ASSERT_EQ((*pause)->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string((*pause)->str), "bounce rate 12.5% (125/1000) over 24h");
  auto ttl = conn_->command({"TTL", pause_key(kPrefix, "alice")});
  EXPECT_EQ((*ttl)->integer, -1) << "a pause lasts until resumed";

  auto second = run_breaker(*conn_, kPrefix, "alice", settings());
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->warn_bounce_logged);
  EXPECT_FALSE(second->paused_now);
  const auto logged = warnings();
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_NE(logged[0].find("account=alice bounce rate 12.5% (125/1000) over 24h, above warn_bounce_rate 2%"),
            std::string::npos)
      << logged[0];
  EXPECT_NE(logged[1].find("account=alice paused: bounce rate 12.5%"), std::string::npos) << logged[1];
}

TEST_F(BreakerTest, AnOperatorsPauseIsNotOverwritten) {
  bucket(0, 1000, 200);
  ASSERT_TRUE(conn_->command({"SET", pause_key(kPrefix, "alice"), "paused by the operator"}).ok());
  auto got = run_breaker(*conn_, kPrefix, "alice", settings());
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->paused_now);
  auto pause = conn_->command({"GET", pause_key(kPrefix, "alice")});
  EXPECT_EQ(std::string((*pause)->str), "paused by the operator");
}

TEST_F(BreakerTest, BelowMinVolumeNothingHappens) {
  bucket(0, 50, 50);
  auto got = run_breaker(*conn_, kPrefix, "alice", settings());
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->verdict.counted);
  EXPECT_FALSE(got->paused_now);
  EXPECT_TRUE(warnings().empty());
  auto exists = conn_->command({"EXISTS", pause_key(kPrefix, "alice")});
  EXPECT_EQ((*exists)->integer, 0);
}

TEST_F(BreakerTest, WithoutAPauseLevelItOnlyWarns) {
  bucket(0, 1000, 900);
  auto got = run_breaker(*conn_, kPrefix, "alice", settings(std::nullopt));
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->warn_bounce_logged);
  EXPECT_FALSE(got->paused_now);
}

}  // namespace
}  // namespace sluice::bounce
