#include "common/quota_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/policy_check.h"
#include "tests/unit/support/flushed_redis_test.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using sluice::test::RedisServer;

constexpr std::string_view kPrefix = "sluice:v1:";

TEST(QuotaKeyString, ParsesToCanonicalForm) {
  // Each row: input, want canonical key string.
  const struct {
    const char* in;
    const char* want;
  } cases[] = {
      {"sasl_username=alice", "sasl_username=alice"},                              // one field
      {"client_address=192.0.2.1,sender_domain=Example.COM",                       // canonical order, domain
       "sender_domain=example.com,client_address=192.0.2.1"},                      //   lowercased
      {"client_address=2001:db8::1", "client_address=2001:db8::1"},                // ':' needs no escape
      {"sasl_username=a%2Cb%3Dc%25", "sasl_username=a%2Cb%3Dc%25"},                // escapes kept
      {"sender=<Bob@Example.COM>", "sender=Bob@example.com"},                      // canonical mailbox
  };
  for (const auto& c : cases) {
    auto parts = parse_quota_key_string(c.in);
    ASSERT_TRUE(parts.ok()) << c.in << ": " << parts.error().message();
    EXPECT_EQ(format_quota_key_string(*parts), c.want) << c.in;
  }
  auto parts = parse_quota_key_string("sasl_username=a%2Cb%3Dc%25");
  EXPECT_EQ((*parts)[0].value, "a,b=c%") << "values are unescaped";
}

TEST(QuotaKeyString, RejectsMalformed) {
  // Each row: input that is not a key string (comment says why).
  for (const char* bad : {
           "",                                      // empty
           "alice",                                 // no field=
           "user=alice",                            // unknown field
           "sasl_username=",                        // empty value
           "sasl_username=a,sasl_username=b",       // field twice
           "sasl_username=a%2",                     // cut escape
           "sasl_username=a%zz",                    // bad escape
           "sender=not an address",                 // sender is not a mailbox
       }) {
    EXPECT_FALSE(parse_quota_key_string(bad).ok()) << "\"" << bad << "\"";
  }
}

TEST(QuotaKeyString, CounterKeyEndsWithKeyString) {
  EXPECT_EQ(quota_counter_key("sluice:v1:", "per-user", QuotaMetric::kBytes, 86400s, 19876,
                              "sasl_username=alice"),
            "sluice:v1:q:per-user:bytes:86400:19876:sasl_username=alice");
  EXPECT_EQ(quota_override_key("sluice:v1:", "sasl_username=alice"), "sluice:v1:qo:sasl_username=alice");
  EXPECT_EQ(quota_override_field(QuotaMetric::kMessages, 86400s), "messages/86400");
}

class QuotaStoreTest : public test::FlushedRedisTest {
 protected:
  void SetUp() override {
    FlushedRedisTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    rules_ = {
        QuotaRule{"per-user",
                  {QuotaKeyField::kSaslUsername},
                  {{QuotaMetric::kMessages, 10, 3600s}, {QuotaMetric::kBytes, 1000, 86400s}},
                  QuotaAction::kDefer},
        QuotaRule{"per-ip", {QuotaKeyField::kClientAddress}, {{QuotaMetric::kMessages, 5, 60s}}, QuotaAction::kReject},
    };
    store_ = std::make_unique<QuotaStore>(*conn_, std::string(kPrefix), rules_);
  }
  void send(std::uint64_t size) {
    PolicyCheck check(std::string(kPrefix), rules_, false, {});
    PolicyFacts f;
    f.stage = PolicyFacts::Stage::kEndOfMessage;
    f.sasl_username = "alice";
    f.client_address = "192.0.2.1";
    f.size = size;
    auto r = run_policy_check(*conn_, check, f);
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(r->kind, PolicyOutcome::Kind::kAllow);
  }

  std::vector<QuotaRule> rules_;
  std::unique_ptr<QuotaStore> store_;
};


TEST_F(QuotaStoreTest, ShowReportsUsedOverrideAndReset) {
  send(100);
  send(250);
  ASSERT_TRUE(store_->set_override("sasl_username=alice", QuotaMetric::kBytes, 86400s, 5000).ok());
  auto shown = store_->show("sasl_username=alice");
  ASSERT_TRUE(shown.ok()) << shown.error().message();
  ASSERT_EQ(shown->size(), 2u) << "only the rule keyed on sasl_username";
  const QuotaLimitStatus& msgs = (*shown)[0];
  EXPECT_EQ(msgs.rule, "per-user");
  EXPECT_EQ(msgs.configured.metric, QuotaMetric::kMessages);
  EXPECT_EQ(msgs.used, 2u);
  EXPECT_FALSE(msgs.override_limit.has_value());
  EXPECT_EQ(msgs.effective_limit(), 10u);
  EXPECT_EQ(msgs.reset_at_ms % 3'600'000, 0);
  const QuotaLimitStatus& bytes = (*shown)[1];
  EXPECT_EQ(bytes.used, 350u);
  EXPECT_EQ(bytes.override_limit, std::optional<std::uint64_t>(5000));
  EXPECT_EQ(bytes.effective_limit(), 5000u);
  EXPECT_EQ(bytes.reset_at_ms % 86'400'000, 0);

  auto ip = store_->show("client_address=192.0.2.1");
  ASSERT_TRUE(ip.ok());
  ASSERT_EQ(ip->size(), 1u);
  EXPECT_EQ((*ip)[0].used, 2u);
  EXPECT_EQ((*ip)[0].action, QuotaAction::kReject);
}

TEST_F(QuotaStoreTest, OverrideMustNameAKnownMetricAndWindow) {
  // Each row: key string, metric, window, want error code, why.
  const struct {
    const char* key;
    QuotaMetric metric;
    std::chrono::seconds window;
    Errc want;
    const char* why;
  } cases[] = {
      {"sasl_username=alice", QuotaMetric::kMessages, 60s, Errc::kNotFound, "no messages/1m for this shape"},
      {"sasl_username=alice", QuotaMetric::kRecipients, 3600s, Errc::kNotFound, "no recipients limit"},
      {"sender=a@example.com", QuotaMetric::kMessages, 3600s, Errc::kNotFound, "no rule keyed on sender"},
      {"bogus", QuotaMetric::kMessages, 3600s, Errc::kInvalidInput, "not a key string"},
  };
  for (const auto& c : cases) {
    Status st = store_->set_override(c.key, c.metric, c.window, 50);
    ASSERT_FALSE(st.ok()) << c.why;
    EXPECT_EQ(st.error().code, c.want) << c.why << ": got " << st.error().message();
  }
  EXPECT_TRUE(store_->set_override("client_address=192.0.2.1", QuotaMetric::kMessages, 60s, 50).ok());
  EXPECT_TRUE(*store_->clear_override("client_address=192.0.2.1", QuotaMetric::kMessages, 60s));
  EXPECT_FALSE(*store_->clear_override("client_address=192.0.2.1", QuotaMetric::kMessages, 60s)) << "already gone";
}

TEST_F(QuotaStoreTest, ResetDeletesTheCurrentCounters) {
  send(100);
  auto deleted = store_->reset("sasl_username=alice");
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  EXPECT_EQ(*deleted, 2u) << "messages and bytes of per-user";
  auto shown = store_->show("sasl_username=alice");
  ASSERT_TRUE(shown.ok());
  for (const QuotaLimitStatus& st : *shown) EXPECT_EQ(st.used, 0u);
  auto ip = store_->show("client_address=192.0.2.1");
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ((*ip)[0].used, 1u) << "other key strings untouched";
}

}  // namespace
}  // namespace sluice
