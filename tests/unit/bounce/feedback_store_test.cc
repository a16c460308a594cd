#include "bounce/feedback_store.h"

#include <gtest/gtest.h>

#include "bounce/report_key.h"
#include "common/suppression_store.h"
#include "tests/unit/support/flushed_redis_test.h"

namespace sluice::bounce {
namespace {

constexpr std::string_view kPrefix = "sluice:v1:";
constexpr std::int64_t kDayMs = 86'400'000;

class FeedbackStoreTest : public sluice::test::FlushedRedisTest {
 protected:
  FeedbackEvent event(BounceKind kind, std::string recipient = "bob@example.net", std::string source = "m1") {
    FeedbackEvent e;
    e.kind = kind;
    e.recipient = std::move(recipient);
    e.account = "alice";
    e.scope = SuppressionScope::kSaslUsername;
    e.scope_value = "alice";
    // |source| stands for a different message: its own tracking ID.
    e.tracking_id = "01jd3xk6m5q3w8r2t4y6" + (source + "aaaaaa").substr(0, 6);
    e.note = std::string(bounce_kind_name(kind)) + " 5.1.1 (dsn): 550 user unknown";
    e.identity = report_identity(e.tracking_id, e.recipient, bounce_kind_name(kind));
    return e;
  }

  long long bucket_field(std::string_view account, std::string_view field) {
    const std::string key =
        std::string(kPrefix) + "rep:" + std::string(account) + ":" + std::to_string(redis_now_ms() / 3'600'000);
    auto r = conn_->command({"HGET", key, field});
    if (!r || (*r)->type == REDIS_REPLY_NIL) return 0;
    return std::stoll((*r)->str);
  }

  long long pttl(const std::string& key) {
    auto r = conn_->command({"PTTL", key});
    return r ? (*r)->integer : -3;
  }

  std::optional<SuppressionEntry> entry(std::string_view recipient, SuppressionScope scope = SuppressionScope::kSaslUsername,
                                        std::string_view value = "alice") {
    SuppressionStore suppressions(*conn_, std::string(kPrefix));
    auto got = suppressions.get(scope, value, recipient);
    EXPECT_TRUE(got.ok());
    return got ? *got : std::nullopt;
  }

  BounceSettings settings_;
};

TEST_F(FeedbackStoreTest, HardBounceSuppressesAndCountsOnce) {
  if (IsSkipped()) return;
  FeedbackStore store(*conn_, std::string(kPrefix));
  const FeedbackEvent e = event(BounceKind::kHard, "Bob@Example.NET");
  auto first = store.apply(e, settings_);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(first->suppressed);
  auto stored = entry("bob@example.net");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->reason, "hard-bounce");
  EXPECT_EQ(stored->expires_ms, 0);
  EXPECT_EQ(stored->tracking_id, e.tracking_id);
  EXPECT_EQ(stored->note, e.note);
  EXPECT_EQ(bucket_field("alice", "hard"), 1);
  const long long marker_ttl = pttl(std::string(kPrefix) + "report:" + e.identity);
  EXPECT_GT(marker_ttl, settings_.report_ttl.count() - 60'000);
  EXPECT_LE(marker_ttl, settings_.report_ttl.count());

  auto again = store.apply(e, settings_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(bucket_field("alice", "hard"), 1) << "a duplicate must not count again";

  // The list's indexes are kept as SuppressionStore keeps them.
  SuppressionStore suppressions(*conn_, std::string(kPrefix));
  auto count = suppressions.count(SuppressionScope::kSaslUsername, "alice");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1u);
  auto page = suppressions.list(SuppressionScope::kSaslUsername, "alice", "", 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0].recipient, "bob@example.net");
}

TEST_F(FeedbackStoreTest, SoftBouncesSuppressForAWhileAtTheLimit) {
  if (IsSkipped()) return;
  FeedbackStore store(*conn_, std::string(kPrefix));
  settings_.soft_bounce_limit = 3;
  for (int i = 1; i <= 3; ++i) {
    auto got = store.apply(event(BounceKind::kSoft, "carol@example.org", "m" + std::to_string(i)), settings_);
    ASSERT_TRUE(got.ok()) << got.error().message();
    EXPECT_EQ(got->soft_count, i);
    EXPECT_EQ(got->suppressed, i == 3) << "soft bounce " << i;
    if (i < 3) {
      EXPECT_FALSE(entry("carol@example.org").has_value());
    }
  }
  const std::string counter = std::string(kPrefix) + "soft:alice:carol@example.org";
  EXPECT_GT(pttl(counter), settings_.soft_bounce_window.count() - 60'000);
  auto stored = entry("carol@example.org");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->reason, "soft-bounce");
  const std::int64_t now = redis_now_ms();
  EXPECT_NEAR(static_cast<double>(stored->expires_ms), static_cast<double>(now + settings_.soft_suppress_for.count()),
              60'000.0);
  EXPECT_EQ(bucket_field("alice", "soft"), 3);
}

TEST_F(FeedbackStoreTest, APermanentEntryIsKeptAndAHardBounceReplacesASoftOne) {
  if (IsSkipped()) return;
  SuppressionStore suppressions(*conn_, std::string(kPrefix));
  SuppressionEntry manual;
  manual.scope = SuppressionScope::kSaslUsername;
  manual.scope_value = "alice";
  manual.recipient = "dave@example.net";
  manual.reason = "manual";
  manual.note = "by hand";
  ASSERT_TRUE(suppressions.add(manual).ok());
  FeedbackStore store(*conn_, std::string(kPrefix));
  settings_.soft_bounce_limit = 1;
  auto soft = store.apply(event(BounceKind::kSoft, "dave@example.net", "s1"), settings_);
  ASSERT_TRUE(soft.ok());
  EXPECT_TRUE(soft->already_suppressed);
  auto hard = store.apply(event(BounceKind::kHard, "dave@example.net", "h1"), settings_);
  ASSERT_TRUE(hard.ok());
  EXPECT_TRUE(hard->already_suppressed);
  auto kept = entry("dave@example.net");
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->reason, "manual");
  EXPECT_EQ(kept->note, "by hand");

  ASSERT_TRUE(store.apply(event(BounceKind::kSoft, "erin@example.net", "s2"), settings_).ok());
  ASSERT_EQ(entry("erin@example.net")->reason, "soft-bounce");
  auto replaced = store.apply(event(BounceKind::kHard, "erin@example.net", "h2"), settings_);
  ASSERT_TRUE(replaced.ok());
  EXPECT_TRUE(replaced->suppressed);
  EXPECT_EQ(entry("erin@example.net")->reason, "hard-bounce");
  EXPECT_EQ(entry("erin@example.net")->expires_ms, 0);
}

TEST_F(FeedbackStoreTest, BlockCountsButNeverSuppressesAndComplaintSuppresses) {
  if (IsSkipped()) return;
  FeedbackStore store(*conn_, std::string(kPrefix));
  auto block = store.apply(event(BounceKind::kBlock, "frank@example.net"), settings_);
  ASSERT_TRUE(block.ok());
  EXPECT_FALSE(block->suppressed);
  EXPECT_FALSE(entry("frank@example.net").has_value());
  EXPECT_EQ(bucket_field("alice", "block"), 1);
  auto complaint = store.apply(event(BounceKind::kComplaint, "frank@example.net"), settings_);
  ASSERT_TRUE(complaint.ok());
  EXPECT_TRUE(complaint->suppressed);
  EXPECT_EQ(entry("frank@example.net")->reason, "complaint");
  EXPECT_EQ(bucket_field("alice", "complaint"), 1);
}

TEST_F(FeedbackStoreTest, WithoutAnAccountTheDomainListAndNoBucket) {
  if (IsSkipped()) return;
  FeedbackStore store(*conn_, std::string(kPrefix));
  FeedbackEvent e = event(BounceKind::kHard, "grace@example.net");
  e.account.clear();
  e.scope = SuppressionScope::kSenderDomain;
  e.scope_value = "Example.COM";
  ASSERT_TRUE(store.apply(e, settings_).ok());
  EXPECT_TRUE(entry("grace@example.net", SuppressionScope::kSenderDomain, "example.com").has_value());
  auto keys = conn_->command({"KEYS", std::string(kPrefix) + "rep:*"});
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ((*keys)->elements, 0u);
}

TEST_F(FeedbackStoreTest, AKeyOfTheWrongTypeWritesNothing) {
  if (IsSkipped()) return;
  FeedbackStore store(*conn_, std::string(kPrefix));
  const std::string counter = std::string(kPrefix) + "soft:alice:heidi@example.net";
  ASSERT_TRUE(conn_->command({"HSET", counter, "x", "1"}).ok());
  const FeedbackEvent e = event(BounceKind::kSoft, "heidi@example.net");
  auto failed = store.apply(e, settings_);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.error().temporary());
  auto marker = conn_->command({"EXISTS", std::string(kPrefix) + "report:" + e.identity});
  ASSERT_TRUE(marker.ok());
  EXPECT_EQ((*marker)->integer, 0) << "a failed apply must leave no marker, or the retry would skip it";
  EXPECT_EQ(bucket_field("alice", "soft"), 0);
  ASSERT_TRUE(conn_->command({"DEL", counter}).ok());
  auto retried = store.apply(e, settings_);
  ASSERT_TRUE(retried.ok());
  EXPECT_FALSE(retried->duplicate);
  EXPECT_EQ(retried->soft_count, 1);
}

TEST_F(FeedbackStoreTest, ReadsTheMessageRecord) {
  if (IsSkipped()) return;
  ASSERT_TRUE(conn_->command({"HSET", std::string(kPrefix) + "msg:01jd3xk6m5q3w8r2t4y6z8a0bc", "account", "alice",
                              "sender", "alice@example.com", "from_domain", "example.com", "nrcpt", "1", "rcpt",
                              "bob@example.net", "ts_ms", "1732616100000", "rcpts", "bob@example.net\nc@d.example\n"})
                  .ok());
  FeedbackStore store(*conn_, std::string(kPrefix));
  auto record = store.message("01jd3xk6m5q3w8r2t4y6z8a0bc");
  ASSERT_TRUE(record.ok());
  ASSERT_TRUE(record->has_value());
  EXPECT_EQ((*record)->account, "alice");
  EXPECT_EQ((*record)->sender, "alice@example.com");
  EXPECT_EQ((*record)->rcpt, "bob@example.net");
  EXPECT_EQ((*record)->nrcpt, 1);
  EXPECT_EQ((*record)->ts_ms, 1732616100000);
  EXPECT_EQ((*record)->rcpts, (std::vector<std::string>{"bob@example.net", "c@d.example"}));
  auto missing = store.message("01jd3xk6m5q3w8r2t4y6z8a0bd");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(FeedbackStoreTest, RefusesEventsThatCannotBeStored) {
  if (IsSkipped()) return;
  FeedbackStore store(*conn_, std::string(kPrefix));
  FeedbackEvent e = event(BounceKind::kHard, "not an address");
  EXPECT_EQ(store.apply(e, settings_).error().code, Errc::kInvalidInput);
  e = event(BounceKind::kHard);
  e.note = "two\nlines";
  EXPECT_EQ(store.apply(e, settings_).error().code, Errc::kInvalidInput);
  e = event(BounceKind::kNone);
  EXPECT_FALSE(store.apply(e, settings_).ok());
}

}  // namespace
}  // namespace sluice::bounce
