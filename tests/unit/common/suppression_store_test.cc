#include "common/suppression_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/support/flushed_redis_test.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using sluice::test::RedisServer;

constexpr std::string_view kPrefix = "sluice:v1:";

SuppressionEntry entry(SuppressionScope scope, std::string value, std::string recipient,
                       std::string reason = "manual") {
  SuppressionEntry e;
  e.scope = scope;
  e.scope_value = std::move(value);
  e.recipient = std::move(recipient);
  e.reason = std::move(reason);
  return e;
}

TEST(SuppressionScopeName, RoundTrips) {
  for (SuppressionScope s :
       {SuppressionScope::kGlobal, SuppressionScope::kSaslUsername, SuppressionScope::kSenderDomain}) {
    auto parsed = parse_suppression_scope(suppression_scope_name(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(parse_suppression_scope("account").ok());
}

TEST(SuppressionKeys, RecipientIsLastAndScopeValueEscaped) {
  // Each row: scope, value, recipient, want key.
  const struct {
    SuppressionScope scope;
    const char* value;
    const char* rcpt;
    const char* key;
  } cases[] = {
      {SuppressionScope::kGlobal, "", "a@example.net", "p:sup:global:a@example.net"},
      {SuppressionScope::kSaslUsername, "al:ice%", "a@example.net", "p:sup:sasl_username:al%3Aice%25:a@example.net"},
      {SuppressionScope::kSenderDomain, "example.com", "a@[IPv6:2001:db8::1]",
       "p:sup:sender_domain:example.com:a@[IPv6:2001:db8::1]"},
  };
  for (const auto& c : cases) EXPECT_EQ(suppression_entry_key("p:", c.scope, c.value, c.rcpt), c.key);
}

class SuppressionStoreTest : public test::FlushedRedisTest {
 protected:
  void SetUp() override {
    FlushedRedisTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    store_ = std::make_unique<SuppressionStore>(*conn_, std::string(kPrefix));
  }

  std::unique_ptr<SuppressionStore> store_;
};


TEST_F(SuppressionStoreTest, AddNormalisesAndGetFindsIt) {
  SuppressionEntry e = entry(SuppressionScope::kSenderDomain, "Example.COM", "<Bob.Smith@Example.NET>", "complaint");
  e.tracking_id = "01J0000000";
  e.note = "ARF from example.net";
  auto added = store_->add(e);
  ASSERT_TRUE(added.ok()) << added.error().message();
  EXPECT_TRUE(added->created);
  EXPECT_EQ(added->entry.scope_value, "example.com");
  EXPECT_EQ(added->entry.recipient, "bob.smith@example.net");
  EXPECT_GT(added->entry.since_ms, 0) << "since defaults to Redis's now";

  auto got = store_->get(SuppressionScope::kSenderDomain, "example.com", "BOB.SMITH@example.net");
  ASSERT_TRUE(got.ok()) << got.error().message();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, added->entry);
  // Other lists and recipients do not have it.
  EXPECT_FALSE(store_->get(SuppressionScope::kGlobal, "", "bob.smith@example.net")->has_value());
  EXPECT_FALSE(store_->get(SuppressionScope::kSenderDomain, "example.org", "bob.smith@example.net")->has_value());
  EXPECT_FALSE(store_->get(SuppressionScope::kSenderDomain, "example.com", "other@example.net")->has_value());
}

TEST_F(SuppressionStoreTest, ReAddKeepsOriginalSinceUnlessToldToReplace) {
  SuppressionEntry e = entry(SuppressionScope::kGlobal, "", "x@example.net", "hard-bounce");
  e.since_ms = 1000;
  ASSERT_TRUE(store_->add(e).ok());
  e.since_ms = 2000;
  e.reason = "complaint";
  auto again = store_->add(e);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->entry.since_ms, 1000) << "kept the original since";
  auto got = store_->get(SuppressionScope::kGlobal, "", "x@example.net");
  EXPECT_EQ((*got)->reason, "complaint") << "other fields are replaced";
  EXPECT_EQ((*got)->since_ms, 1000);
  auto replaced = store_->add(e, SinceOnUpdate::kReplace);
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(replaced->entry.since_ms, 2000);
  EXPECT_EQ(*store_->count(SuppressionScope::kGlobal, ""), 1u);
}

TEST_F(SuppressionStoreTest, RejectsBadInput) {
  const std::int64_t now = redis_now_ms();
  SuppressionEntry past = entry(SuppressionScope::kGlobal, "", "a@example.net");
  past.expires_ms = now - 1000;
  SuppressionEntry lf = entry(SuppressionScope::kGlobal, "", "a@example.net");
  lf.note = "line\nbreak";
  // Each row: entry, why it is refused.
  const struct {
    SuppressionEntry e;
    const char* why;
  } cases[] = {
      {entry(SuppressionScope::kGlobal, "", "a@example.net", "bounced"), "unknown reason"},
      {entry(SuppressionScope::kGlobal, "", "not an address"), "bad recipient"},
      {entry(SuppressionScope::kGlobal, "", "<>"), "null recipient"},
      {entry(SuppressionScope::kGlobal, "alice", "a@example.net"), "global takes no value"},
      {entry(SuppressionScope::kSaslUsername, "", "a@example.net"), "account list without account"},
      {entry(SuppressionScope::kSenderDomain, "a@example.com", "a@example.net"), "domain with @"},
      {past, "expires in the past"},
      {lf, "note with LF"},
  };
  for (const auto& c : cases) {
    auto r = store_->add(c.e);
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_FALSE(r.error().temporary()) << c.why << ": got " << r.error().message();
  }
  EXPECT_EQ(*store_->count(SuppressionScope::kGlobal, ""), 0u) << "nothing written";
}

TEST_F(SuppressionStoreTest, EntriesExpireByThemselvesAndListsHideThem) {
  const std::int64_t now = redis_now_ms();
  for (const char* rcpt : {"e@example.net", "a@example.net", "c@example.net", "b@example.net", "d@example.net"}) {
    ASSERT_TRUE(store_->add(entry(SuppressionScope::kSaslUsername, "alice", rcpt)).ok());
  }
  SuppressionEntry brief = entry(SuppressionScope::kSaslUsername, "alice", "bb@example.net", "unsubscribe");
  brief.expires_ms = now + 200;
  ASSERT_TRUE(store_->add(brief).ok());
  auto pttl = conn_->command({"PTTL", suppression_entry_key(kPrefix, SuppressionScope::kSaslUsername, "alice",
                                                            "bb@example.net")});
  ASSERT_TRUE(pttl.ok());
  EXPECT_GT((*pttl)->integer, 0) << "the entry key carries its own expiry";
  EXPECT_EQ(*store_->count(SuppressionScope::kSaslUsername, "alice"), 6u);

  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(store_->get(SuppressionScope::kSaslUsername, "alice", "bb@example.net")->has_value());
  EXPECT_EQ(*store_->count(SuppressionScope::kSaslUsername, "alice"), 5u);

  // Pages of two, in recipient order, without the expired one.
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store_->list(SuppressionScope::kSaslUsername, "alice", cursor, 2);
    ASSERT_TRUE(page.ok()) << page.error().message();
    for (const SuppressionEntry& e : page->entries) {
      seen.push_back(e.recipient);
      EXPECT_EQ(e.reason, "manual");
      EXPECT_EQ(e.scope_value, "alice");
    }
    cursor = page->next_cursor;
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_THAT(seen, ::testing::ElementsAre("a@example.net", "b@example.net", "c@example.net", "d@example.net",
                                           "e@example.net"));
  // Another account's list is separate.
  EXPECT_EQ(*store_->count(SuppressionScope::kSaslUsername, "bob"), 0u);
  EXPECT_TRUE(store_->list(SuppressionScope::kSaslUsername, "bob", "", 10)->entries.empty());
}

TEST_F(SuppressionStoreTest, RemoveDeletesEntryAndIndex) {
  ASSERT_TRUE(store_->add(entry(SuppressionScope::kGlobal, "", "a@example.net")).ok());
  auto removed = store_->remove(SuppressionScope::kGlobal, "", "A@Example.net");
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(*store_->remove(SuppressionScope::kGlobal, "", "a@example.net")) << "already gone";
  EXPECT_FALSE(store_->get(SuppressionScope::kGlobal, "", "a@example.net")->has_value());
  EXPECT_EQ(*store_->count(SuppressionScope::kGlobal, ""), 0u);
  auto keys = conn_->command({"KEYS", "*"});
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ((*keys)->elements, 0u) << "no key left behind";
}

TEST_F(SuppressionStoreTest, ListRejectsBadPageSize) {
  EXPECT_EQ(store_->list(SuppressionScope::kGlobal, "", "", 0).error().code, Errc::kInvalidInput);
  EXPECT_EQ(store_->list(SuppressionScope::kGlobal, "", "", 10001).error().code, Errc::kInvalidInput);
}

}  // namespace
}  // namespace sluice
