#include "common/policy_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/lua_scripts.h"
#include "common/quota_store.h"
#include "common/suppression_store.h"
#include "tests/unit/support/flushed_redis_test.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using sluice::test::RedisServer;
using ::testing::HasSubstr;
using Kind = PolicyOutcome::Kind;
using Stage = PolicyFacts::Stage;

constexpr std::string_view kPrefix = "sluice:v1:";

// ---- crafted replies, for the parser ----------------------------------------

// An owned redisReply tree.
struct FakeReply {
  redisReply reply{};
  std::string text;
  std::vector<std::unique_ptr<FakeReply>> children;
  std::vector<redisReply*> pointers;
};
using FakePtr = std::unique_ptr<FakeReply>;

FakePtr s(std::string text, int type = REDIS_REPLY_STRING) {
  auto f = std::make_unique<FakeReply>();
  f->text = std::move(text);
  f->reply.type = type;
  f->reply.str = f->text.data();
  f->reply.len = f->text.size();
  return f;
}
FakePtr n(long long value) {
  auto f = std::make_unique<FakeReply>();
  f->reply.type = REDIS_REPLY_INTEGER;
  f->reply.integer = value;
  return f;
}
FakePtr nil() {
  auto f = std::make_unique<FakeReply>();
  f->reply.type = REDIS_REPLY_NIL;
  return f;
}
template <class... Parts>
FakePtr a(Parts... parts) {
  auto f = std::make_unique<FakeReply>();
  f->reply.type = REDIS_REPLY_ARRAY;
  (f->children.push_back(std::move(parts)), ...);
  for (auto& c : f->children) f->pointers.push_back(&c->reply);
  f->reply.elements = f->pointers.size();
  f->reply.element = f->pointers.empty() ? nullptr : f->pointers.data();
  return f;
}

PolicyFacts eom_facts(std::string instance = "", std::uint64_t size = 100) {
  PolicyFacts f;
  f.stage = Stage::kEndOfMessage;
  f.instance = std::move(instance);
  f.client_address = "192.0.2.1";
  f.sasl_username = "alice";
  f.sender = "alice@example.com";
  f.sender_key = "alice@example.com";
  f.sender_domain = "example.com";
  f.size = size;
  return f;
}

PolicyFacts rcpt_facts(std::string recipient, std::string instance = "") {
  PolicyFacts f = eom_facts(std::move(instance), 0);
  f.stage = Stage::kRcpt;
  f.recipient = std::move(recipient);
  return f;
}

QuotaRule rule(std::string name, std::vector<QuotaKeyField> key, std::vector<QuotaLimit> limits,
               QuotaAction action = QuotaAction::kDefer) {
  return QuotaRule{std::move(name), std::move(key), std::move(limits), action};
}

QuotaLimit lim(QuotaMetric metric, std::uint64_t limit, std::chrono::seconds window) {
  return QuotaLimit{metric, limit, window};
}

const std::vector<SuppressionScope> kAllScopes = {SuppressionScope::kGlobal, SuppressionScope::kSaslUsername,
                                                  SuppressionScope::kSenderDomain};

std::string describe(const Result<PolicyOutcome>& r) {
  if (!r) return "error " + r.error().message();
  const PolicyOutcome& o = *r;
  std::string out = o.kind == Kind::kAllow ? "allow" : o.kind == Kind::kSuppressed ? "suppressed" : "over";
  if (o.replayed) out += " (replayed)";
  if (o.kind == Kind::kSuppressed) out += " scope=" + o.scope + " reason=" + o.reason;
  if (o.kind == Kind::kOverQuota) {
    out += " rule=" + o.rule + " limit=" + quota_limit_label(o.limit) + ":" + std::to_string(o.limit.limit) +
           " used=" + std::to_string(o.used);
  }
  return out;
}

// ---- pure -------------------------------------------------------------------

TEST(PolicyCheck, BuildsNothingWhenNoRuleAppliesAndNoLookupIsNeeded) {
  const PolicyCheck check(std::string(kPrefix),
                          {rule("per-user", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 5, 60s)}),
                           rule("rcpts", {QuotaKeyField::kClientAddress}, {lim(QuotaMetric::kRecipients, 5, 60s)})},
                          false, kAllScopes);
  PolicyFacts no_user = eom_facts();
  no_user.sasl_username.clear();
  // Each row: facts, whether a call is built, why.
  const struct {
    PolicyFacts facts;
    bool want_call;
    const char* why;
  } cases[] = {
      {eom_facts(), true, "authenticated EOM: per-user messages apply"},
      {no_user, false, "unauthenticated EOM: per-user skipped, recipients rule not checked at EOM"},
      {rcpt_facts("bob@example.net"), true, "RCPT: recipients rule applies"},
  };
  for (const auto& c : cases) EXPECT_EQ(check.build(c.facts).has_value(), c.want_call) << c.why;
}

TEST(PolicyCheck, BuildPutsKeyStringLastAndRecordsPerInstance) {
  const PolicyCheck check(std::string(kPrefix),
                          {rule("dom-ip", {QuotaKeyField::kClientAddress, QuotaKeyField::kSenderDomain},
                                {lim(QuotaMetric::kMessages, 5, 86400s)})},
                          false, {});
  PolicyFacts f = eom_facts("4F2A.1a2b3c.0");
  f.client_address = "2001:db8::1";
  f.sender_domain = "Example.COM";
  std::optional<RedisCall> call = check.build(f);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->script, &policy_check_script());
  EXPECT_THAT(call->keys, ::testing::ElementsAre("sluice:v1:idem:4F2A.1a2b3c.0:2001:db8::1", "sluice:v1:pause:alice",
                                                 "sluice:v1:qo:sender_domain=example.com,client_address=2001:db8::1"));
  EXPECT_THAT(call->args, ::testing::Contains("sluice:v1:q:dom-ip:messages:86400:"));
  EXPECT_THAT(call->args, ::testing::Contains("sender_domain=example.com,client_address=2001:db8::1"));
  const std::vector<std::string> sha = evalsha_command(*call);
  EXPECT_EQ(sha[0], "EVALSHA");
  EXPECT_EQ(sha[1], policy_check_script().sha1());
  EXPECT_EQ(sha[2], "3");
  EXPECT_EQ(eval_command(*call)[1], policy_check_script().source());
}

TEST(PolicyCheck, ParserRejectsMalformedReplies) {
  const PolicyCheck check(std::string(kPrefix), {}, true, kAllScopes);
  const PolicyFacts facts = rcpt_facts("bob@example.net");
  // Each row: a crafted reply the script never sends, and why it is wrong.
  struct Case {
    FakePtr reply;
    const char* why;
  };
  Case cases[] = {
      {s("NOSCRIPT No matching script", REDIS_REPLY_ERROR), "error reply (the caller handles NOSCRIPT first)"},
      {nil(), "nil"},
      {n(1), "integer"},
      {s("allow"), "bare string"},
      {a(), "empty array"},
      {a(s("allow")), "no replayed flag"},
      {a(s("permit"), n(0)), "unknown status"},
      {a(n(0), n(0)), "status not a string"},
      {a(s("allow"), n(2)), "replayed not 0 or 1"},
      {a(s("allow"), s("0")), "replayed a string"},
      {a(s("allow"), n(0), n(0)), "allow with an extra element"},
      {a(s("suppressed"), n(0), s("global"), s("complaint"), n(1)), "suppressed, one short"},
      {a(s("suppressed"), n(0), s("global"), s("complaint"), s("1"), n(0)), "suppressed, since a string"},
      {a(s("suppressed"), n(0), nil(), s("complaint"), n(1), n(0)), "suppressed, scope nil"},
      {a(s("over"), n(0), s("r"), s("messages"), n(60), n(5), n(5), n(1000)), "over, one short"},
      {a(s("over"), n(0), s("r"), s("letters"), n(60), n(5), n(5), n(1000), s("defer")), "over, unknown metric"},
      {a(s("over"), n(0), s("r"), s("messages"), n(0), n(5), n(5), n(1000), s("defer")), "over, zero window"},
      {a(s("over"), n(0), s("r"), s("messages"), n(60), n(-1), n(5), n(1000), s("defer")), "over, negative limit"},
      {a(s("over"), n(0), s("r"), s("messages"), n(60), n(5), n(5), n(1000), s("bounce")), "over, unknown action"},
      {a(s("over"), n(0), s("r"), s("messages"), s("60"), n(5), n(5), n(1000), s("defer")), "over, window a string"},
      {a(s("unauthorised"), n(0)), "unauthorised without its reason"},
      {a(s("unauthorised"), n(0), s("maybe")), "unauthorised, unknown reason"},
      {a(s("unauthorised"), n(0), s("no-set"), n(1)), "unauthorised with an extra element"},
      {a(s("paused"), n(0)), "paused without its reason"},
      {a(s("paused"), n(0), n(5)), "paused, reason an integer"},
  };
  for (const Case& c : cases) {
    Result<PolicyOutcome> r = check.parse(facts, c.reply->reply);
    ASSERT_FALSE(r.ok()) << c.why << ": got " << describe(r) << ", want an error";
    EXPECT_EQ(r.error().code, Errc::kProtocol) << c.why << ": got " << r.error().message();
  }
}

TEST(PolicyCheck, ParserReadsEachDocumentedShape) {
  const PolicyCheck check(std::string(kPrefix), {}, true, kAllScopes);
  const PolicyFacts facts = rcpt_facts("bob@example.net");
  Result<PolicyOutcome> allow = check.parse(facts, a(s("allow"), n(1))->reply);
  ASSERT_TRUE(allow.ok()) << describe(allow);
  EXPECT_EQ(allow->kind, Kind::kAllow);
  EXPECT_TRUE(allow->replayed);

  Result<PolicyOutcome> sup =
      check.parse(facts, a(s("suppressed"), n(0), s("sender_domain example.com"), s("complaint"), n(7), n(0))->reply);
  ASSERT_TRUE(sup.ok()) << describe(sup);
  EXPECT_EQ(sup->kind, Kind::kSuppressed);
  EXPECT_EQ(sup->scope, "sender_domain example.com");
  EXPECT_EQ(sup->reason, "complaint");
  EXPECT_EQ(sup->since_ms, 7);
  EXPECT_EQ(sup->expires_ms, 0);

  Result<PolicyOutcome> over = check.parse(
      facts, a(s("over"), n(0), s("r"), s("bytes"), n(3600), n(5), n(4), n(1000), s("reject"))->reply);
  ASSERT_TRUE(over.ok()) << describe(over);
  EXPECT_EQ(over->kind, Kind::kOverQuota);
  EXPECT_EQ(over->limit, lim(QuotaMetric::kBytes, 5, 3600s));
  EXPECT_EQ(over->used, 4u);
  EXPECT_EQ(over->reset_at_ms, 1000);
  EXPECT_EQ(over->action, QuotaAction::kReject);

  Result<PolicyOutcome> unlisted = check.parse(facts, a(s("unauthorised"), n(0), s("not-listed"))->reply);
  ASSERT_TRUE(unlisted.ok()) << describe(unlisted);
  EXPECT_EQ(unlisted->kind, Kind::kSenderNotAuthorised);
  EXPECT_FALSE(unlisted->sender_set_missing);
  Result<PolicyOutcome> no_set = check.parse(facts, a(s("unauthorised"), n(0), s("no-set"))->reply);
  ASSERT_TRUE(no_set.ok()) << describe(no_set);
  EXPECT_TRUE(no_set->sender_set_missing);

  // A pause reason is cut to kMaxPauseReason, whatever the key holds.
  Result<PolicyOutcome> paused = check.parse(facts, a(s("paused"), n(0), s(std::string(300, 'r')))->reply);
  ASSERT_TRUE(paused.ok()) << describe(paused);
  EXPECT_EQ(paused->kind, Kind::kPaused);
  EXPECT_EQ(paused->pause_reason, std::string(kMaxPauseReason, 'r'));
}

TEST(PolicyCheck, AccountKeysAndSenderMembers) {
  EXPECT_EQ(senders_key("sluice:v1:", "alice@example.test"), "sluice:v1:senders:alice@example.test");
  EXPECT_EQ(senders_key("p:", "odd:login%"), "p:senders:odd%3Alogin%25");
  EXPECT_EQ(pause_key("sluice:v1:", "alice"), "sluice:v1:pause:alice");
  EXPECT_THAT(sender_set_members("bob@example.com", "Example.COM"),
              ::testing::ElementsAre("bob@example.com", "@example.com"));
  EXPECT_THAT(sender_set_members("", ""), ::testing::ElementsAre("<>"));
}

// Sender authorisation is asked only at RCPT and only of authenticated
// clients; the pause at RCPT and END-OF-MESSAGE.
TEST(PolicyCheck, AccountChecksOnlyForAuthenticatedRequests) {
  const PolicyCheck check(std::string(kPrefix), {}, false, {}, SenderAuthorisation{true, MissingSenderSetAction::kReject});
  PolicyFacts rcpt = rcpt_facts("bob@example.net");
  rcpt.sender_key = "alice@example.com";
  std::optional<RedisCall> call = check.build(rcpt);
  ASSERT_TRUE(call.has_value());
  EXPECT_THAT(call->keys, ::testing::ElementsAre("sluice:v1:pause:alice", "sluice:v1:senders:alice"));
  EXPECT_THAT(call->args, ::testing::Contains("@example.com"));
  std::optional<RedisCall> eom = check.build(eom_facts());
  ASSERT_TRUE(eom.has_value());
  EXPECT_THAT(eom->keys, ::testing::ElementsAre("sluice:v1:pause:alice"));
  rcpt.sasl_username.clear();
  EXPECT_FALSE(check.build(rcpt).has_value()) << "unauthenticated: no account to check";
}

// ---- against a real Redis ---------------------------------------------------

class PolicyCheckRedis : public test::FlushedRedisTest {
 protected:

  void SetUp() override {
    FlushedRedisTest::SetUp();
  }

  Result<PolicyOutcome> run(const PolicyCheck& check, const PolicyFacts& facts) {
    return run_policy_check(*conn_, check, facts);
  }

  // Messages used now by `rule` for alice (sasl_username key).
  std::uint64_t used(const std::vector<QuotaRule>& rules, std::string_view key, QuotaMetric metric) {
    QuotaStore store(*conn_, std::string(kPrefix), rules);
    auto shown = store.show(key);
    EXPECT_TRUE(shown.ok()) << shown.error().message();
    if (!shown) return 0;
    for (const QuotaLimitStatus& st : *shown) {
      if (st.configured.metric == metric) return st.used;
    }
    return 0;
  }


  void suppress(SuppressionScope scope, std::string value, std::string recipient, std::string reason,
                std::int64_t expires_ms = 0) {
    SuppressionStore store(*conn_, std::string(kPrefix));
    SuppressionEntry e;
    e.scope = scope;
    e.scope_value = std::move(value);
    e.recipient = std::move(recipient);
    e.reason = std::move(reason);
    e.expires_ms = expires_ms;
    auto added = store.add(e);
    ASSERT_TRUE(added.ok()) << added.error().message();
  }

};


TEST_F(PolicyCheckRedis, AllScriptsCompile) {
  for (const RedisScript* script :
       {&policy_check_script(), &suppression_add_script(), &suppression_prune_script()}) {
    Status st = script->load(*conn_);
    EXPECT_TRUE(st.ok()) << script->name() << ": " << st.error().message();
  }
}

TEST_F(PolicyCheckRedis, SuppressionFoundPerScope) {
  suppress(SuppressionScope::kGlobal, "", "g@example.net", "complaint");
  suppress(SuppressionScope::kSaslUsername, "alice", "a@example.net", "unsubscribe");
  suppress(SuppressionScope::kSaslUsername, "bob", "b@example.net", "manual");
  suppress(SuppressionScope::kSenderDomain, "example.com", "d@example.net", "hard-bounce");
  const PolicyCheck check(std::string(kPrefix), {}, true, kAllScopes);
  // Each row: recipient, want kind, want scope label, want reason.
  const struct {
    const char* rcpt;
    Kind kind;
    const char* scope;
    const char* reason;
  } cases[] = {
      {"g@example.net", Kind::kSuppressed, "global", "complaint"},                 // global list
      {"a@example.net", Kind::kSuppressed, "sasl_username alice", "unsubscribe"},  // alice's own list
      {"b@example.net", Kind::kAllow, "", ""},                                     // bob's list is not alice's
      {"d@example.net", Kind::kSuppressed, "sender_domain example.com", "hard-bounce"},  // sender domain list
      {"other@example.net", Kind::kAllow, "", ""},                                 // on no list
  };
  for (const auto& c : cases) {
    Result<PolicyOutcome> r = run(check, rcpt_facts(c.rcpt));
    ASSERT_TRUE(r.ok()) << c.rcpt << ": " << r.error().message();
    EXPECT_EQ(r->kind, c.kind) << c.rcpt << ": got " << describe(r);
    EXPECT_EQ(r->scope, c.scope) << c.rcpt;
    EXPECT_EQ(r->reason, c.reason) << c.rcpt;
    if (c.kind == Kind::kSuppressed) {
      EXPECT_GT(r->since_ms, 0) << c.rcpt;
    }
  }
  // With only the global scope configured, alice's own list is not consulted.
  const PolicyCheck global_only(std::string(kPrefix), {}, true, {SuppressionScope::kGlobal});
  Result<PolicyOutcome> r = run(global_only, rcpt_facts("a@example.net"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kAllow) << describe(r);
  // With suppression off, not even the global list: only the account's pause.
  const PolicyCheck off(std::string(kPrefix), {}, false, kAllScopes);
  std::optional<RedisCall> call = off.build(rcpt_facts("g@example.net"));
  ASSERT_TRUE(call.has_value());
  EXPECT_THAT(call->keys, ::testing::ElementsAre("sluice:v1:pause:alice"));
}

// ---- sender authorisation and the account pause ----

PolicyFacts sending_as(std::string sender_key, std::string domain, std::string rcpt = "bob@example.net",
                       std::string instance = "") {
  PolicyFacts f = rcpt_facts(std::move(rcpt), std::move(instance));
  f.sender = sender_key;
  f.sender_key = std::move(sender_key);
  f.sender_domain = std::move(domain);
  return f;
}

TEST_F(PolicyCheckRedis, SenderMustBeInTheLoginsSet) {
  ASSERT_TRUE(conn_->command({"SADD", "sluice:v1:senders:alice", "alice@example.com", "@alice.test"}).ok());
  const PolicyCheck check(std::string(kPrefix), {}, true, kAllScopes, SenderAuthorisation{true, MissingSenderSetAction::kReject});
  // Each row: sender lookup key, its domain, want kind, why.
  const struct {
    const char* key;
    const char* domain;
    Kind kind;
    const char* why;
  } cases[] = {
      {"alice@example.com", "example.com", Kind::kAllow, "the address itself is a member"},
      {"anyone@alice.test", "alice.test", Kind::kAllow, "@alice.test admits every address there"},
      {"bob@example.com", "example.com", Kind::kSenderNotAuthorised, "same domain, another address"},
      {"bob@other.test", "other.test", Kind::kSenderNotAuthorised, "another domain"},
      {"x@sub.alice.test", "sub.alice.test", Kind::kSenderNotAuthorised, "@domain is that domain only"},
      {"", "", Kind::kSenderNotAuthorised, "the null sender needs \"<>\" in the set"},
  };
  for (const auto& c : cases) {
    Result<PolicyOutcome> r = run(check, sending_as(c.key, c.domain));
    ASSERT_TRUE(r.ok()) << c.why << ": " << r.error().message();
    EXPECT_EQ(r->kind, c.kind) << c.why << ": got " << describe(r);
    EXPECT_FALSE(r->sender_set_missing) << c.why;
  }
  ASSERT_TRUE(conn_->command({"SADD", "sluice:v1:senders:alice", "<>"}).ok());
  EXPECT_EQ(run(check, sending_as("", ""))->kind, Kind::kAllow) << "<> in the set admits the null sender";
  // Another login's set says nothing about alice's.
  PolicyFacts bob = sending_as("anyone@alice.test", "alice.test");
  bob.sasl_username = "bob";
  Result<PolicyOutcome> r = run(check, bob);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kSenderNotAuthorised) << describe(r);
  EXPECT_TRUE(r->sender_set_missing) << "bob has no set at all";
  // END-OF-MESSAGE does not ask again (the sender cannot change after RCPT).
  PolicyFacts eom = eom_facts();
  eom.sender_key = eom.sender = "bob@other.test";
  eom.sender_domain = "other.test";
  EXPECT_EQ(run(check, eom)->kind, Kind::kAllow);
  // Off: anything goes.
  const PolicyCheck off(std::string(kPrefix), {}, true, kAllScopes);
  EXPECT_EQ(run(off, sending_as("bob@other.test", "other.test"))->kind, Kind::kAllow);
}

TEST_F(PolicyCheckRedis, LoginWithoutASetIsRefusedUnlessMissingAccept) {
  const PolicyFacts facts = sending_as("alice@example.com", "example.com");
  const PolicyCheck strict(std::string(kPrefix), {}, false, {}, SenderAuthorisation{true, MissingSenderSetAction::kReject});
  Result<PolicyOutcome> r = run(strict, facts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kSenderNotAuthorised) << describe(r);
  EXPECT_TRUE(r->sender_set_missing);
  const PolicyCheck lenient(std::string(kPrefix), {}, false, {}, SenderAuthorisation{true, MissingSenderSetAction::kAccept});
  EXPECT_EQ(run(lenient, facts)->kind, Kind::kAllow);
  // A set, even one without this sender, is authoritative under accept too.
  ASSERT_TRUE(conn_->command({"SADD", "sluice:v1:senders:alice", "@elsewhere.test"}).ok());
  EXPECT_EQ(run(lenient, facts)->kind, Kind::kSenderNotAuthorised);
}

// Sender authorisation comes before suppression and quotas, and a refusal
// charges nothing.
TEST_F(PolicyCheckRedis, UnauthorisedSenderIsRefusedFirstAndChargesNothing) {
  suppress(SuppressionScope::kGlobal, "", "gone@example.net", "complaint");
  const std::vector<QuotaRule> rules = {
      rule("rcpts", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kRecipients, 10, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes, SenderAuthorisation{true, MissingSenderSetAction::kReject});
  ASSERT_TRUE(conn_->command({"SADD", "sluice:v1:senders:alice", "@alice.test"}).ok());
  Result<PolicyOutcome> r = run(check, sending_as("bob@other.test", "other.test", "gone@example.net", "I.1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kSenderNotAuthorised) << "before the suppression: got " << describe(r);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(run(check, sending_as("bob@other.test", "other.test", "r" + std::to_string(i) + "@example.net"))->kind,
              Kind::kSenderNotAuthorised);
  }
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kRecipients), 0u);
  EXPECT_EQ(run(check, sending_as("a@alice.test", "alice.test", "ok@example.net"))->kind, Kind::kAllow);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kRecipients), 1u);
}

TEST_F(PolicyCheckRedis, PausedAccountIsDeferredAtRcptAndEomWithoutCharge) {
  const std::vector<QuotaRule> rules = {
      rule("per-user", {QuotaKeyField::kSaslUsername},
           {lim(QuotaMetric::kRecipients, 10, 3600s), lim(QuotaMetric::kMessages, 10, 3600s)})};
  suppress(SuppressionScope::kGlobal, "", "gone@example.net", "complaint");
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  ASSERT_TRUE(conn_->command({"SET", "sluice:v1:pause:alice", "hard bounces 12% in 1h"}).ok());
  // Each row: facts, why.
  const struct {
    PolicyFacts facts;
    const char* why;
  } cases[] = {
      {rcpt_facts("x@example.net"), "RCPT"},
      {rcpt_facts("gone@example.net"), "RCPT of a suppressed recipient: the pause comes first"},
      {eom_facts(), "END-OF-MESSAGE"},
  };
  for (const auto& c : cases) {
    Result<PolicyOutcome> r = run(check, c.facts);
    ASSERT_TRUE(r.ok()) << c.why << ": " << r.error().message();
    EXPECT_EQ(r->kind, Kind::kPaused) << c.why << ": got " << describe(r);
    EXPECT_EQ(r->pause_reason, "hard bounces 12% in 1h") << c.why;
  }
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kRecipients), 0u);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kMessages), 0u);
  // Other accounts and unauthenticated clients are not affected.
  PolicyFacts bob = rcpt_facts("x@example.net");
  bob.sasl_username = "bob";
  EXPECT_EQ(run(check, bob)->kind, Kind::kAllow);
  // Resumed (sluicectl reputation resume deletes the key): mail flows again.
  ASSERT_TRUE(conn_->command({"DEL", "sluice:v1:pause:alice"}).ok());
  EXPECT_EQ(run(check, rcpt_facts("x@example.net"))->kind, Kind::kAllow);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kRecipients), 1u);
}

// An unauthorised sender is refused (permanent) rather than deferred when
// the account is paused too.
TEST_F(PolicyCheckRedis, SenderRefusalBeatsThePause) {
  ASSERT_TRUE(conn_->command({"SET", "sluice:v1:pause:alice", "manual"}).ok());
  const PolicyCheck check(std::string(kPrefix), {}, false, {}, SenderAuthorisation{true, MissingSenderSetAction::kReject});
  EXPECT_EQ(run(check, sending_as("bob@other.test", "other.test"))->kind, Kind::kSenderNotAuthorised);
  ASSERT_TRUE(conn_->command({"SADD", "sluice:v1:senders:alice", "@other.test"}).ok());
  EXPECT_EQ(run(check, sending_as("bob@other.test", "other.test"))->kind, Kind::kPaused);
}

// A recipient charged and admitted, whose answer Postfix lost, gets the
// same answer when resent after the account was paused (nothing charged
// twice, no charge Postfix never saw).
TEST_F(PolicyCheckRedis, ResentChargedRequestIsReplayedEvenWhenPausedSince) {
  const std::vector<QuotaRule> rules = {
      rule("rcpts", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kRecipients, 10, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, false, {});
  ASSERT_EQ(run(check, rcpt_facts("x@example.net", "R.1"))->kind, Kind::kAllow);
  ASSERT_TRUE(conn_->command({"SET", "sluice:v1:pause:alice", "manual"}).ok());
  Result<PolicyOutcome> again = run(check, rcpt_facts("x@example.net", "R.1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->kind, Kind::kAllow) << describe(again);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(run(check, rcpt_facts("y@example.net", "R.1"))->kind, Kind::kPaused) << "a new recipient is deferred";
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kRecipients), 1u);
}

TEST_F(PolicyCheckRedis, FirstLiveEntryInConfiguredOrderWins) {
  suppress(SuppressionScope::kGlobal, "", "x@example.net", "complaint");
  suppress(SuppressionScope::kSenderDomain, "example.com", "x@example.net", "manual");
  const PolicyCheck domain_first(std::string(kPrefix), {}, true,
                                 {SuppressionScope::kSenderDomain, SuppressionScope::kGlobal});
  Result<PolicyOutcome> r = run(domain_first, rcpt_facts("x@example.net"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->scope, "sender_domain example.com") << describe(r);
  EXPECT_EQ(r->reason, "manual");
}

TEST_F(PolicyCheckRedis, ExpiredSuppressionEntryIsIgnored) {
  const std::int64_t now = redis_now_ms();
  // An entry that expires by itself shortly.
  suppress(SuppressionScope::kGlobal, "", "soon@example.net", "hard-bounce", now + 300);
  // An entry whose expires_ms has passed but whose key Redis has not dropped
  // (written by hand without PEXPIREAT): the script reads expires_ms itself.
  ASSERT_TRUE(conn_->command({"HSET", "sluice:v1:sup:global:stale@example.net", "reason", "complaint", "since_ms",
                              "1", "expires_ms", std::to_string(now - 1000)})
                  .ok());
  const PolicyCheck check(std::string(kPrefix), {}, true, kAllScopes);
  Result<PolicyOutcome> before = run(check, rcpt_facts("soon@example.net"));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->kind, Kind::kSuppressed) << describe(before);
  EXPECT_EQ(before->expires_ms, now + 300);
  Result<PolicyOutcome> stale = run(check, rcpt_facts("stale@example.net"));
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->kind, Kind::kAllow) << describe(stale);
  std::this_thread::sleep_for(400ms);
  Result<PolicyOutcome> after = run(check, rcpt_facts("soon@example.net"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->kind, Kind::kAllow) << describe(after);
}

TEST_F(PolicyCheckRedis, MessageOverLimitDeferredAtEom) {
  const std::vector<QuotaRule> rules = {
      rule("per-user", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 3, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  for (int i = 1; i <= 3; ++i) {
    Result<PolicyOutcome> r = run(check, eom_facts());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->kind, Kind::kAllow) << "message " << i << ": got " << describe(r);
  }
  const std::int64_t now = redis_now_ms();
  Result<PolicyOutcome> r = run(check, eom_facts());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->kind, Kind::kOverQuota) << "message 4: got " << describe(r);
  EXPECT_EQ(r->rule, "per-user");
  EXPECT_EQ(r->limit, lim(QuotaMetric::kMessages, 3, 3600s));
  EXPECT_EQ(r->used, 3u);
  EXPECT_EQ(r->action, QuotaAction::kDefer);
  EXPECT_EQ(r->reset_at_ms % 3'600'000, 0) << "windows are aligned to the epoch";
  EXPECT_GT(r->reset_at_ms, now);
  EXPECT_LE(r->reset_at_ms, now + 3'600'000);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kMessages), 3u) << "a refused message is not charged";
}

TEST_F(PolicyCheckRedis, RecipientsCountedAtRcpt) {
  const std::vector<QuotaRule> rules = {rule("rcpts", {QuotaKeyField::kSaslUsername},
                                             {lim(QuotaMetric::kRecipients, 2, 60s)}, QuotaAction::kReject)};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  // Each row: recipient, want kind.
  const struct {
    const char* rcpt;
    Kind kind;
  } cases[] = {
      {"r1@example.net", Kind::kAllow},      // 1 of 2
      {"r2@example.net", Kind::kAllow},      // 2 of 2
      {"r3@example.net", Kind::kOverQuota},  // 3 > 2
  };
  for (const auto& c : cases) {
    Result<PolicyOutcome> r = run(check, rcpt_facts(c.rcpt));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->kind, c.kind) << c.rcpt << ": got " << describe(r);
  }
  Result<PolicyOutcome> r = run(check, rcpt_facts("r4@example.net"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->used, 2u);
  EXPECT_EQ(r->action, QuotaAction::kReject);
  // END-OF-MESSAGE does not count recipients: nothing to check here but
  // the account's pause.
  std::optional<RedisCall> eom = check.build(eom_facts());
  ASSERT_TRUE(eom.has_value());
  EXPECT_THAT(eom->keys, ::testing::ElementsAre("sluice:v1:pause:alice"));
  PolicyFacts anon = eom_facts();
  anon.sasl_username.clear();
  EXPECT_FALSE(check.build(anon).has_value());
}

TEST_F(PolicyCheckRedis, MessagesAndBytesNotChargedAtRcptButCheckedThere) {
  const std::vector<QuotaRule> rules = {rule(
      "per-user", {QuotaKeyField::kSaslUsername},
      {lim(QuotaMetric::kMessages, 1, 3600s), lim(QuotaMetric::kBytes, 1000, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  for (int i = 0; i < 5; ++i) {
    Result<PolicyOutcome> r = run(check, rcpt_facts("r" + std::to_string(i) + "@example.net"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, Kind::kAllow) << "RCPT " << i << ": got " << describe(r);
  }
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kMessages), 0u);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kBytes), 0u);
  Result<PolicyOutcome> eom = run(check, eom_facts("", 10));
  ASSERT_TRUE(eom.ok());
  EXPECT_EQ(eom->kind, Kind::kAllow) << describe(eom);
  // Now at the messages limit: the next message is refused at its first RCPT.
  Result<PolicyOutcome> r = run(check, rcpt_facts("late@example.net"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kOverQuota) << describe(r);
  EXPECT_EQ(r->limit.metric, QuotaMetric::kMessages);
  EXPECT_EQ(r->used, 1u);
}

TEST_F(PolicyCheckRedis, NothingChargedWhenOneWindowFails) {
  const std::vector<QuotaRule> rules = {
      rule("msgs", {QuotaKeyField::kSaslUsername},
           {lim(QuotaMetric::kMessages, 100, 60s), lim(QuotaMetric::kMessages, 100, 3600s)}),
      rule("bytes", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kBytes, 1000, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  Result<PolicyOutcome> first = run(check, eom_facts("", 600));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->kind, Kind::kAllow) << describe(first);
  Result<PolicyOutcome> second = run(check, eom_facts("", 600));  // 1200 > 1000 bytes
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->kind, Kind::kOverQuota) << describe(second);
  EXPECT_EQ(second->rule, "bytes");
  EXPECT_EQ(second->used, 600u);
  // Neither messages window of the first rule was charged for the refused message.
  QuotaStore store(*conn_, std::string(kPrefix), rules);
  auto shown = store.show("sasl_username=alice");
  ASSERT_TRUE(shown.ok()) << shown.error().message();
  for (const QuotaLimitStatus& st : *shown) {
    const std::uint64_t want = st.configured.metric == QuotaMetric::kBytes ? 600 : 1;
    EXPECT_EQ(st.used, want) << st.rule << " " << quota_limit_label(st.configured);
  }
}

TEST_F(PolicyCheckRedis, BytesLimitAdmitsUpToTheLimitExactly) {
  const std::vector<QuotaRule> rules = {
      rule("bytes", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kBytes, 1000, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  // Each row: message size, want kind.
  const struct {
    std::uint64_t size;
    Kind kind;
  } cases[] = {
      {400, Kind::kAllow},      // 400
      {600, Kind::kAllow},      // 1000: exactly the limit
      {1, Kind::kOverQuota},    // 1001
      {0, Kind::kAllow},        // 1000 + 0 is not over
  };
  for (const auto& c : cases) {
    Result<PolicyOutcome> r = run(check, eom_facts("", c.size));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, c.kind) << "size " << c.size << ": got " << describe(r);
  }
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kBytes), 1000u);
}

TEST_F(PolicyCheckRedis, OverrideRaisesTheLimit) {
  const std::vector<QuotaRule> rules = {
      rule("per-user", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 1, 86400s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  QuotaStore store(*conn_, std::string(kPrefix), rules);
  ASSERT_TRUE(store.set_override("sasl_username=alice", QuotaMetric::kMessages, 86400s, 3).ok());
  for (int i = 1; i <= 3; ++i) {
    Result<PolicyOutcome> r = run(check, eom_facts());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, Kind::kAllow) << "message " << i << ": got " << describe(r);
  }
  Result<PolicyOutcome> r = run(check, eom_facts());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kOverQuota) << describe(r);
  EXPECT_EQ(r->limit.limit, 3u) << "the limit reported is the override";
  // Another account keeps the configured limit.
  PolicyFacts bob = eom_facts();
  bob.sasl_username = "bob";
  ASSERT_EQ(run(check, bob)->kind, Kind::kAllow);
  EXPECT_EQ(run(check, bob)->kind, Kind::kOverQuota);
}

TEST_F(PolicyCheckRedis, WindowResetsAfterItEnds) {
  const std::vector<QuotaRule> rules = {
      rule("per-second", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 1, 1s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  // Start early in a window so the first two requests share it.
  std::int64_t now = redis_now_ms();
  if (now % 1000 > 700) std::this_thread::sleep_for(std::chrono::milliseconds(1000 - now % 1000 + 10));
  ASSERT_EQ(run(check, eom_facts())->kind, Kind::kAllow);
  Result<PolicyOutcome> over = run(check, eom_facts());
  ASSERT_TRUE(over.ok());
  ASSERT_EQ(over->kind, Kind::kOverQuota) << describe(over);
  now = redis_now_ms();
  EXPECT_EQ(over->reset_at_ms % 1000, 0);
  ASSERT_GT(over->reset_at_ms, now);
  // The counter expires by itself: window end + slack.
  auto keys = conn_->command({"KEYS", "sluice:v1:q:*"});
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ((*keys)->elements, 1u);
  auto pttl = conn_->command({"PTTL", (*keys)->element[0]->str});
  ASSERT_TRUE(pttl.ok());
  EXPECT_GT((*pttl)->integer, 0);
  EXPECT_LE((*pttl)->integer, 1000 + kQuotaCounterSlack.count());

  std::this_thread::sleep_for(std::chrono::milliseconds(over->reset_at_ms - now + 20));
  Result<PolicyOutcome> again = run(check, eom_facts());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->kind, Kind::kAllow) << "new window: got " << describe(again);
}

TEST_F(PolicyCheckRedis, IdempotentReplayDoesNotDoubleCharge) {
  const std::vector<QuotaRule> rules = {
      rule("msgs", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 2, 3600s)}),
      rule("rcpts", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kRecipients, 10, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  // Each row: facts, want kind, want replayed, why.
  const struct {
    PolicyFacts facts;
    Kind kind;
    bool replayed;
    const char* why;
  } cases[] = {
      {rcpt_facts("x@example.net", "A.1"), Kind::kAllow, false, "first RCPT of message A"},
      {rcpt_facts("x@example.net", "A.1"), Kind::kAllow, true, "same RCPT resent"},
      {rcpt_facts("y@example.net", "A.1"), Kind::kAllow, false, "another recipient of A"},
      {eom_facts("A.1"), Kind::kAllow, false, "EOM of A"},
      {eom_facts("A.1"), Kind::kAllow, true, "EOM of A resent"},
      {eom_facts("B.2"), Kind::kAllow, false, "EOM of B: 2 of 2"},
      {eom_facts("C.3"), Kind::kOverQuota, false, "EOM of C: over"},
      {eom_facts("C.3"), Kind::kOverQuota, false, "EOM of C resent: decided again (charged nothing), same answer"},
      {eom_facts("A.1"), Kind::kAllow, true, "EOM of A resent once more: over now, but A was charged: its answer"},
  };
  for (const auto& c : cases) {
    Result<PolicyOutcome> r = run(check, c.facts);
    ASSERT_TRUE(r.ok()) << c.why << ": " << r.error().message();
    EXPECT_EQ(r->kind, c.kind) << c.why << ": got " << describe(r);
    EXPECT_EQ(r->replayed, c.replayed) << c.why << ": got " << describe(r);
  }
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kMessages), 2u);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kRecipients), 2u);
  // The over-quota answer to a resend carries the details.
  Result<PolicyOutcome> r = run(check, eom_facts("C.3"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rule, "msgs");
  EXPECT_EQ(r->used, 2u);
  EXPECT_EQ(r->limit, lim(QuotaMetric::kMessages, 2, 3600s));
  EXPECT_GT(r->reset_at_ms, 0);
  // Only answers that charged are recorded.
  auto refused = conn_->command({"EXISTS", "sluice:v1:idem:C.3:192.0.2.1"});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ((*refused)->integer, 0) << "a refusal charged nothing: no record";
  auto fields = conn_->command({"HLEN", "sluice:v1:idem:A.1:192.0.2.1"});
  ASSERT_TRUE(fields.ok());
  EXPECT_EQ((*fields)->integer, 3) << "rcpt:x, rcpt:y, eom:";
  // The record expires after kPolicyReplayTtl.
  auto pttl = conn_->command({"PTTL", "sluice:v1:idem:A.1:192.0.2.1"});
  ASSERT_TRUE(pttl.ok());
  EXPECT_GT((*pttl)->integer, kPolicyReplayTtl.count() - 5000);
  EXPECT_LE((*pttl)->integer, kPolicyReplayTtl.count());
}

TEST_F(PolicyCheckRedis, ChargedRecipientResentAfterItWasSuppressedGetsItsFirstAnswer) {
  const std::vector<QuotaRule> rules = {
      rule("rcpts", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kRecipients, 10, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  Result<PolicyOutcome> first = run(check, rcpt_facts("late@example.net", "S.1"));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->kind, Kind::kAllow) << describe(first);
  suppress(SuppressionScope::kGlobal, "", "late@example.net", "complaint");
  Result<PolicyOutcome> resent = run(check, rcpt_facts("late@example.net", "S.1"));
  ASSERT_TRUE(resent.ok());
  EXPECT_EQ(resent->kind, Kind::kAllow) << describe(resent);
  EXPECT_TRUE(resent->replayed);
  // Another message to that recipient is refused, and charged nothing.
  Result<PolicyOutcome> other = run(check, rcpt_facts("late@example.net", "S.2"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->kind, Kind::kSuppressed) << describe(other);
  EXPECT_FALSE(other->replayed);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kRecipients), 1u);
}

TEST_F(PolicyCheckRedis, AdmissionThatChargesNothingIsNotRecorded) {
  // At RCPT the messages limit is only checked: nothing is charged.
  const std::vector<QuotaRule> rules = {
      rule("msgs", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 5, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  for (int i = 0; i < 2; ++i) {
    Result<PolicyOutcome> r = run(check, rcpt_facts("x@example.net", "N.1"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, Kind::kAllow) << describe(r);
    EXPECT_FALSE(r->replayed) << "attempt " << i << ": decided again";
  }
  auto exists = conn_->command({"EXISTS", "sluice:v1:idem:N.1:192.0.2.1"});
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ((*exists)->integer, 0);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kMessages), 0u);
}

TEST_F(PolicyCheckRedis, RecordsOfEarlierVersionsAreReplayed) {
  // Earlier versions recorded every answer, refusals included, in the same form.
  const std::vector<QuotaRule> rules = {
      rule("msgs", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 1, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  ASSERT_TRUE(conn_->command({"HSET", "sluice:v1:idem:O.1:192.0.2.1", "eom:",
                              R"(["over","0","msgs","messages","3600","1","1","1718003600000","defer"])"})
                  .ok());
  ASSERT_TRUE(conn_->command({"HSET", "sluice:v1:idem:O.2:192.0.2.1", "eom:", R"(["allow","0"])"}).ok());
  // A record is read when the request is refused (or finds it by HSETNX when
  // admitted): use the quota up so that both resends are refused now.
  ASSERT_EQ(run(check, eom_facts("X.1"))->kind, Kind::kAllow);
  Result<PolicyOutcome> over = run(check, eom_facts("O.1"));
  ASSERT_TRUE(over.ok());
  EXPECT_EQ(over->kind, Kind::kOverQuota) << describe(over);
  EXPECT_TRUE(over->replayed);
  EXPECT_EQ(over->reset_at_ms, 1718003600000);
  Result<PolicyOutcome> allow = run(check, eom_facts("O.2"));
  ASSERT_TRUE(allow.ok());
  EXPECT_EQ(allow->kind, Kind::kAllow) << describe(allow);
  EXPECT_TRUE(allow->replayed);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kMessages), 1u);
}

TEST_F(PolicyCheckRedis, OverrideHonouredBesideSuppressionEntriesThatDoNotMatch) {
  // The script reads override hashes only when EXISTS counts more keys than
  // the suppression entries it found: each row leaves other keys around.
  const std::vector<QuotaRule> rules = {
      rule("rcpts", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kRecipients, 100, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  QuotaStore store(*conn_, std::string(kPrefix), rules);
  ASSERT_TRUE(store.set_override("sasl_username=alice", QuotaMetric::kRecipients, 3600s, 0).ok());
  const std::int64_t now = redis_now_ms();
  // An entry whose expires_ms has passed (no PEXPIREAT), and an entry hash
  // without the looked-up fields.
  ASSERT_TRUE(conn_->command({"HSET", "sluice:v1:sup:global:x@example.net", "reason", "complaint", "since_ms", "1",
                              "expires_ms", std::to_string(now - 1000)})
                  .ok());
  ASSERT_TRUE(conn_->command({"HSET", "sluice:v1:sup:sasl_username:alice:x@example.net", "note", "odd"}).ok());
  Result<PolicyOutcome> r = run(check, rcpt_facts("x@example.net"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kOverQuota) << describe(r);
  EXPECT_EQ(r->limit.limit, 0u);
  // Without the override, admitted.
  ASSERT_TRUE(store.clear_override("sasl_username=alice", QuotaMetric::kRecipients, 3600s).ok());
  Result<PolicyOutcome> after = run(check, rcpt_facts("x@example.net"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->kind, Kind::kAllow) << describe(after);
}

TEST_F(PolicyCheckRedis, CountersExpireAtWindowEndPlusSlack) {
  // Two limits on the same (metric, window) of one rule share one counter
  // key: both are charged, as two increments.
  const std::vector<QuotaRule> rules = {rule(
      "per-user", {QuotaKeyField::kSaslUsername},
      {lim(QuotaMetric::kMessages, 100, 3600s), lim(QuotaMetric::kMessages, 100, 3600s),
       lim(QuotaMetric::kBytes, 100000, 86400s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(run(check, eom_facts("", 10))->kind, Kind::kAllow);
  const std::int64_t now = redis_now_ms();
  // Each row: window, want value.
  const struct {
    std::int64_t window_ms;
    const char* metric;
    const char* value;
  } cases[] = {{3'600'000, "messages", "6"}, {86'400'000, "bytes", "30"}};
  for (const auto& c : cases) {
    const std::int64_t index = now / c.window_ms;
    const std::string key = "sluice:v1:q:per-user:" + std::string(c.metric) + ":" +
                            std::to_string(c.window_ms / 1000) + ":" + std::to_string(index) + ":sasl_username=alice";
    auto value = conn_->command({"GET", key});
    ASSERT_TRUE(value.ok());
    ASSERT_EQ((*value)->type, REDIS_REPLY_STRING) << key;
    EXPECT_EQ(std::string((*value)->str), c.value) << key;
    auto pttl = conn_->command({"PTTL", key});
    ASSERT_TRUE(pttl.ok());
    const std::int64_t want = (index + 1) * c.window_ms + kQuotaCounterSlack.count() - now;
    EXPECT_LE((*pttl)->integer, want + 5) << key;
    EXPECT_GT((*pttl)->integer, want - 5000) << key;
  }
}

TEST_F(PolicyCheckRedis, ExactUnderConcurrency) {
  const std::vector<QuotaRule> rules = {
      rule("per-user", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 500, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  constexpr int kThreads = 4;
  constexpr int kAttemptsPerThread = 500;
  std::atomic<int> admitted{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  const RedisOptions options = server_->client_options();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RedisConn conn(options);
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        PolicyFacts f = eom_facts("T" + std::to_string(t) + "." + std::to_string(i));
        Result<PolicyOutcome> r = run_policy_check(conn, check, f);
        if (!r) ++failed;
        else if (r->kind == Kind::kAllow) ++admitted;
        else ++refused;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(admitted.load(), 500);
  EXPECT_EQ(refused.load(), kThreads * kAttemptsPerThread - 500);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kMessages), 500u);
}

TEST_F(PolicyCheckRedis, RulesWithMissingKeyFieldsAreSkipped) {
  const std::vector<QuotaRule> rules = {
      rule("per-user", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 1, 3600s)}),
      rule("per-sender", {QuotaKeyField::kSender}, {lim(QuotaMetric::kMessages, 1, 3600s)}),
      rule("per-ip", {QuotaKeyField::kClientAddress}, {lim(QuotaMetric::kMessages, 2, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  PolicyFacts anon = eom_facts();
  anon.sasl_username.clear();  // not authenticated
  anon.sender.clear();         // null sender <>
  anon.sender_domain.clear();
  // Only per-ip applies: two messages pass although per-user and per-sender allow one.
  ASSERT_EQ(run(check, anon)->kind, Kind::kAllow);
  ASSERT_EQ(run(check, anon)->kind, Kind::kAllow);
  Result<PolicyOutcome> r = run(check, anon);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kOverQuota) << describe(r);
  EXPECT_EQ(r->rule, "per-ip");
}

TEST_F(PolicyCheckRedis, WrongScriptOrErrorReplyIsAProtocolError) {
  const std::vector<QuotaRule> rules = {
      rule("per-user", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 1, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  const PolicyFacts facts = rcpt_facts("x@example.net");
  std::optional<RedisCall> call = check.build(facts);
  ASSERT_TRUE(call.has_value());
  // A different script given the same KEYS and ARGV.
  const RedisScript wrong("wrong", "return {'allow', 0, KEYS[1]}");
  auto reply = wrong.eval(*conn_, call->keys, call->args);
  ASSERT_TRUE(reply.ok());
  Result<PolicyOutcome> parsed = check.parse(facts, **reply);
  ASSERT_FALSE(parsed.ok()) << describe(parsed);
  EXPECT_EQ(parsed.error().code, Errc::kProtocol);
  // The right script failing (WRONGTYPE: a suppression key of the wrong type).
  ASSERT_TRUE(conn_->command({"SET", "sluice:v1:sup:global:x@example.net", "oops"}).ok());
  Result<PolicyOutcome> r = run(check, facts);
  ASSERT_FALSE(r.ok()) << describe(r);
  EXPECT_EQ(r.error().code, Errc::kProtocol);
  EXPECT_THAT(r.error().detail, HasSubstr("WRONGTYPE"));
}

TEST_F(PolicyCheckRedis, EvalCommandRunsTheScriptAfterNoscript) {
  const std::vector<QuotaRule> rules = {
      rule("per-user", {QuotaKeyField::kSaslUsername}, {lim(QuotaMetric::kMessages, 5, 3600s)})};
  const PolicyCheck check(std::string(kPrefix), rules, true, kAllScopes);
  const PolicyFacts facts = eom_facts("N.1");
  std::optional<RedisCall> call = check.build(facts);
  ASSERT_TRUE(call.has_value());
  ASSERT_TRUE(conn_->command({"SCRIPT", "FLUSH"}).ok());
  auto as_views = [](const std::vector<std::string>& argv) {
    return std::vector<std::string_view>(argv.begin(), argv.end());
  };
  const std::vector<std::string> evalsha = evalsha_command(*call);
  auto first = conn_->command(as_views(evalsha));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(reply_error_is(**first, "NOSCRIPT")) << reply_describe(**first);
  EXPECT_EQ(used(rules, "sasl_username=alice", QuotaMetric::kMessages), 0u) << "NOSCRIPT ran nothing";
  const std::vector<std::string> eval = eval_command(*call);
  auto second = conn_->command(as_views(eval));
  ASSERT_TRUE(second.ok());
  Result<PolicyOutcome> r = check.parse(facts, **second);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->kind, Kind::kAllow);
  // EVAL cached the script: EVALSHA works now.
  auto third = conn_->command(as_views(evalsha));
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(reply_error(**third).empty()) << reply_describe(**third);
  EXPECT_TRUE(check.parse(facts, **third)->replayed);
}

}  // namespace
}  // namespace sluice
