#include "policyd/checks.h"

#include <gtest/gtest.h>

namespace sluice::policyd {
namespace {

PolicyRequest rcpt(std::string recipient, std::string sender = "Alice@Example.TEST") {
  PolicyRequest request;
  request.protocol_state = ProtocolState::kRcpt;
  request.recipient = std::move(recipient);
  request.sender = std::move(sender);
  request.sasl_username = "alice";
  request.client_address = "192.0.2.1";
  request.instance = "8a1.5f3c2.123";
  request.queue_id = "3F2A1C";
  return request;
}

TEST(Prepare, OnlyRcptAndEndOfMessageNeedRedis) {
  for (ProtocolState state : {ProtocolState::kConnect, ProtocolState::kEhlo, ProtocolState::kMail,
                              ProtocolState::kData, ProtocolState::kVrfy, ProtocolState::kOther}) {
    PolicyRequest request = rcpt("bob@example.net");
    request.protocol_state = state;
    const Prepared prepared = prepare(request);
    ASSERT_TRUE(prepared.immediate.has_value()) << protocol_state_name(state);
    EXPECT_EQ(prepared.immediate->kind, Verdict::Kind::kDunno);
  }
  EXPECT_FALSE(prepare(rcpt("bob@example.net")).immediate.has_value());
}

// Suppression lookups must find Bob@Example.NET under bob@example.net.
TEST(Prepare, NormalisesAddressesForLookups) {
  const Prepared prepared = prepare(rcpt("<Bob@Example.NET>"));
  EXPECT_EQ(prepared.facts.recipient, "bob@example.net");
  EXPECT_EQ(prepared.facts.sender, "Alice@example.test");
  EXPECT_EQ(prepared.facts.sender_domain, "example.test");
  EXPECT_EQ(prepared.facts.sasl_username, "alice");
  EXPECT_EQ(prepared.facts.instance, "8a1.5f3c2.123");
  EXPECT_TRUE(prepared.note.empty());
}

TEST(Prepare, NullSenderHasNoSenderFacts) {
  const Prepared prepared = prepare(rcpt("bob@example.net", ""));
  EXPECT_EQ(prepared.facts.sender, "");
  EXPECT_EQ(prepared.facts.sender_domain, "");
}

// An address our parser refuses is left out (its lookups skipped) and the
// reason noted for the log, never guessed at.
TEST(Prepare, UnparsableAddressesAreLeftOutWithANote) {
  const Prepared bad_rcpt = prepare(rcpt("not an address"));
  EXPECT_EQ(bad_rcpt.facts.recipient, "");
  EXPECT_NE(bad_rcpt.note.find("unparsable recipient"), std::string::npos) << bad_rcpt.note;
  const Prepared bad_sender = prepare(rcpt("bob@example.net", "a@@b"));
  EXPECT_EQ(bad_sender.facts.sender_domain, "");
  EXPECT_NE(bad_sender.note.find("unparsable sender"), std::string::npos) << bad_sender.note;
}

TEST(Prepare, EndOfMessageCarriesTheSize) {
  PolicyRequest request = rcpt("");
  request.protocol_state = ProtocolState::kEndOfMessage;
  request.size = 12345;
  const Prepared prepared = prepare(request);
  EXPECT_EQ(prepared.facts.stage, PolicyFacts::Stage::kEndOfMessage);
  EXPECT_EQ(prepared.facts.size, 12345u);
  EXPECT_TRUE(prepared.note.empty()) << "no recipient is expected at END-OF-MESSAGE";
}

TEST(VerdictFor, SuppressedRecipientIsRejectedWithReasonAndDate) {
  PolicyOutcome outcome;
  outcome.kind = PolicyOutcome::Kind::kSuppressed;
  outcome.reason = "complaint";
  outcome.since_ms = 1795737600000;  // 2026-11-27T00:00:00Z
  EXPECT_EQ(render_verdict(verdict_for(outcome)),
            "action=550 5.7.1 recipient suppressed (complaint, since 2026-11-27)\n\n");
}

TEST(VerdictFor, OverQuotaSaysWhichLimitAndWhenItResets) {
  PolicyOutcome outcome;
  outcome.kind = PolicyOutcome::Kind::kOverQuota;
  outcome.rule = "per-user";
  outcome.limit = QuotaLimit{QuotaMetric::kMessages, 100, std::chrono::seconds{60}};
  outcome.reset_at_ms = 1795737660000;  // 00:01:00
  outcome.action = QuotaAction::kDefer;
  EXPECT_EQ(render_verdict(verdict_for(outcome)),
            "action=450 4.7.1 sending quota exceeded: 100 messages/1m (rule per-user), resets at "
            "2026-11-27 00:01:00 UTC\n\n");
  outcome.action = QuotaAction::kReject;
  EXPECT_EQ(verdict_for(outcome).kind, Verdict::Kind::kReject);
}

TEST(VerdictFor, AllowIsDunno) {
  EXPECT_EQ(verdict_for(PolicyOutcome{}).kind, Verdict::Kind::kDunno);
}

TEST(VerdictForRedisError, FollowsTheConfiguredChoice) {
  EXPECT_EQ(render_verdict(verdict_for_redis_error(RedisErrorAction::kTempfail)),
            "action=DEFER_IF_PERMIT 4.3.0 quota service temporarily unavailable, try again later\n\n");
  EXPECT_EQ(verdict_for_redis_error(RedisErrorAction::kAccept).kind, Verdict::Kind::kDunno);
}

// The log line is one line whatever the client sent.
TEST(DecisionLogLine, EscapesHostileAttributes) {
  PolicyRequest request = rcpt("evil\r\nInjected: yes@example.net");
  request.queue_id = "";
  const std::string line = decision_log_line(request, verdict_dunno(), "allowed");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(line.rfind("NOQUEUE: policy state=RCPT decision=", 0), 0u) << line;
  EXPECT_NE(line.find("sasl=alice"), std::string::npos);
}

}  // namespace
}  // namespace sluice::policyd
