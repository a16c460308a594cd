// Tests for unsubscribe/unsubscribe_action.* against a private Redis: the
// suppression, the used-token mark and the reputation counter; replays
// (also after an operator removed the suppression); existing entries; and
// a Redis outage leaving nothing marked.
#include "unsubscribe/unsubscribe_action.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/suppression_store.h"
#include "tests/unit/support/flushed_redis_test.h"

namespace sluice::unsubscribe {
namespace {

constexpr std::string_view kPrefix = "sluice:v1:";
constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::chrono::seconds kTtl{90 * 86'400};

class UnsubscribeActionTest : public test::FlushedRedisTest {
 protected:
  void SetUp() override {
    FlushedRedisTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    store_ = std::make_unique<SuppressionStore>(*conn_, std::string(kPrefix));
  }

  Result<UnsubscribeResult> apply(const std::string& token) {
    return apply_unsubscribe(*conn_, kPrefix, claim_, token, kTtl, kNow);
  }

  std::optional<SuppressionEntry> suppression() {
    auto got = store_->get(SuppressionScope::kSaslUsername, "alice", "bob@example.com");
    EXPECT_TRUE(got.ok());
    return got.ok() ? *got : std::nullopt;
  }

  long long counter() {
    auto got = conn_->command({"HGET", reputation_bucket_key(kPrefix, "alice", kNow), "unsubscribe"});
    EXPECT_TRUE(got.ok());
    if (!got.ok() || (*got)->type == REDIS_REPLY_NIL) return 0;
    return std::stoll((*got)->str);
  }

  long long ttl_of(const std::string& key) {
    auto got = conn_->command({"TTL", key});
    EXPECT_TRUE(got.ok());
    return got.ok() ? (*got)->integer : -3;
  }

  UnsubscribeClaim claim_{"alice", "bob@example.com", kNow - 3600, "k1"};
  std::unique_ptr<SuppressionStore> store_;
};

TEST(UnsubscribeKeys, FollowTheSchema) {
  EXPECT_EQ(used_token_key("p:", "abc"), "p:unsubscribed:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // hour = unix seconds / 3600; the account is an escaped component.
  EXPECT_EQ(reputation_bucket_key("p:", "al:ice", 7200), "p:rep:al%3Aice:2");
}

TEST_F(UnsubscribeActionTest, SuppressesMarksAndCountsOnce) {
  auto result = apply("TOKEN1");
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(*result, UnsubscribeResult::kUnsubscribed);
  auto entry = suppression();
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->reason, "unsubscribe");
  EXPECT_EQ(entry->note, "one-click");
  EXPECT_EQ(entry->expires_ms, 0);
  EXPECT_EQ(counter(), 1);
  const long long mark_ttl = ttl_of(used_token_key(kPrefix, "TOKEN1"));
  EXPECT_GT(mark_ttl, kTtl.count() - 60);
  EXPECT_LE(mark_ttl, kTtl.count());
  const long long bucket_ttl = ttl_of(reputation_bucket_key(kPrefix, "alice", kNow));
  EXPECT_GT(bucket_ttl, kReputationBucketTtl.count() - 60);
}

TEST_F(UnsubscribeActionTest, ReplayChangesNothingEvenAfterTheOperatorRemovedIt) {
  ASSERT_TRUE(apply("TOKEN1").ok());
  const auto first = suppression();
  ASSERT_TRUE(first.has_value());

  auto again = apply("TOKEN1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, UnsubscribeResult::kReplayed);
  EXPECT_EQ(suppression(), first);
  EXPECT_EQ(counter(), 1);

  // The operator lifts the suppression; the same link must not restore it.
  ASSERT_TRUE(store_->remove(SuppressionScope::kSaslUsername, "alice", "bob@example.com").ok());
  auto replay = apply("TOKEN1");
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(*replay, UnsubscribeResult::kReplayed);
  EXPECT_FALSE(suppression().has_value());
  EXPECT_EQ(counter(), 1);
}

TEST_F(UnsubscribeActionTest, AnotherTokenForTheSameRecipientKeepsTheEntry) {
  ASSERT_TRUE(apply("TOKEN1").ok());
  const auto first = suppression();
  auto second = apply("TOKEN2");  // a later message's link
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, UnsubscribeResult::kAlreadySuppressed);
  EXPECT_EQ(suppression(), first);
  EXPECT_EQ(counter(), 2);  // each token's first use counts
}

TEST_F(UnsubscribeActionTest, LeavesAPermanentEntryAloneAndMakesAnExpiringOnePermanent) {
  SuppressionEntry manual;
  manual.scope = SuppressionScope::kSaslUsername;
  manual.scope_value = "alice";
  manual.recipient = "bob@example.com";
  manual.reason = "hard-bounce";
  manual.note = "550 5.1.1";
  ASSERT_TRUE(store_->add(manual).ok());
  auto kept = apply("TOKEN1");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, UnsubscribeResult::kAlreadySuppressed);
  EXPECT_EQ(suppression()->reason, "hard-bounce");

  ASSERT_TRUE(store_->remove(SuppressionScope::kSaslUsername, "alice", "bob@example.com").ok());
  manual.reason = "soft-bounce";
  manual.expires_ms = redis_now_ms() + 3'600'000;
  ASSERT_TRUE(store_->add(manual).ok());
  auto made_permanent = apply("TOKEN2");
  ASSERT_TRUE(made_permanent.ok());
  EXPECT_EQ(*made_permanent, UnsubscribeResult::kUnsubscribed);
  EXPECT_EQ(suppression()->reason, "unsubscribe");
  EXPECT_EQ(suppression()->expires_ms, 0);
}

TEST_F(UnsubscribeActionTest, RedisDownFailsWithoutMarkingTheToken) {
  server_->stop();
  auto down = apply("TOKEN1");
  ASSERT_FALSE(down.ok());
  EXPECT_TRUE(down.error().temporary()) << down.error().message();
  server_->start();
  // A fresh connection (the old one is in its back-off window): the
  // provider's retry goes through as a first use.
  conn_ = std::make_unique<RedisConn>(server_->client_options());
  store_ = std::make_unique<SuppressionStore>(*conn_, std::string(kPrefix));
  auto retried = apply("TOKEN1");
  ASSERT_TRUE(retried.ok()) << retried.error().message();
  EXPECT_EQ(*retried, UnsubscribeResult::kUnsubscribed);
  EXPECT_EQ(counter(), 1);
}

}  // namespace
}  // namespace sluice::unsubscribe
