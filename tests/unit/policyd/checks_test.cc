#include "policyd/checks.h"

#include <gtest/gtest.h>

#include <initializer_list>

#include "common/cidr.h"

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

// ---- sender authorisation, pause, relay guard ----

TEST(Prepare, SenderLookupKeyIsLowercasedForTheSendersSet) {
  const Prepared prepared = prepare(rcpt("bob@example.net", "Alice@Example.TEST"));
  EXPECT_EQ(prepared.facts.sender_key, "alice@example.test");
  EXPECT_EQ(prepared.facts.sender, "Alice@example.test") << "logs keep the case as sent";
}

TEST(VerdictFor, UnauthorisedSenderNamesSenderAndLogin) {
  PolicyOutcome outcome;
  outcome.kind = PolicyOutcome::Kind::kSenderNotAuthorised;
  const Prepared prepared = prepare(rcpt("x@example.net", "bob@other.test"));
  EXPECT_EQ(render_verdict(verdict_for(outcome, prepared.facts)),
            "action=550 5.7.1 sender <bob@other.test> is not authorised for login alice\n\n");
  PolicyFacts null_sender = prepared.facts;
  null_sender.sender.clear();
  EXPECT_EQ(render_verdict(verdict_for(outcome, null_sender)),
            "action=550 5.7.1 sender <> is not authorised for login alice\n\n");
  EXPECT_EQ(outcome_reason(outcome), "sender-not-authorised");
  outcome.sender_set_missing = true;
  EXPECT_EQ(outcome_reason(outcome), "sender-set-missing");
}

TEST(VerdictFor, PausedAccountIsDeferredWithTheReason) {
  PolicyOutcome outcome;
  outcome.kind = PolicyOutcome::Kind::kPaused;
  outcome.pause_reason = "complaint rate 0.5% over 1h";
  EXPECT_EQ(render_verdict(verdict_for(outcome)),
            "action=450 4.7.1 account paused by the relay operator (complaint rate 0.5% over 1h)\n\n");
  // The reason comes from Redis: a CR LF in it cannot split the reply.
  outcome.pause_reason = "bad\r\naction=OK";
  const std::string wire = render_verdict(verdict_for(outcome));
  EXPECT_EQ(wire.find('\r'), std::string::npos) << wire;
  EXPECT_EQ(wire.find("\naction=OK"), std::string::npos) << wire;
  outcome.pause_reason.clear();
  EXPECT_EQ(render_verdict(verdict_for(outcome)),
            "action=450 4.7.1 account paused by the relay operator (no reason given)\n\n");
  EXPECT_EQ(outcome_reason(outcome), "paused");
}

TEST(Prepare, UnparsableSenderOfAnAuthenticatedClientIsRefusedWhenSendersAreChecked) {
  PolicydSettings settings;
  settings.sender_authorisation = true;
  const Prepared refused = prepare(rcpt("bob@example.net", "a@@b"), settings);
  ASSERT_TRUE(refused.immediate.has_value());
  EXPECT_EQ(render_verdict(*refused.immediate), "action=550 5.7.1 sender <a@@b> is not authorised for login alice\n\n");
  EXPECT_EQ(refused.reason, "sender-unparsable");
  // Without sender authorisation it is only left out of the facts.
  EXPECT_FALSE(prepare(rcpt("bob@example.net", "a@@b")).immediate.has_value());
}

PolicydSettings guarded(std::initializer_list<const char*> networks) {
  PolicydSettings settings;
  settings.require_authentication = true;
  for (const char* n : networks) settings.trusted_networks.push_back(*parse_cidr(n));
  return settings;
}

TEST(RelayGuard, RefusesUnauthenticatedClientsOutsideTrustedNetworks) {
  const PolicydSettings settings = guarded({"127.0.0.0/8", "::1", "192.0.2.0/24"});
  // Each row: client address, authenticated?, want refused, why.
  const struct {
    const char* client;
    bool authenticated;
    bool refused;
    const char* why;
  } cases[] = {
      {"127.0.0.2", false, false, "loopback is trusted"},
      {"192.0.2.77", false, false, "inside a trusted network"},
      {"::1", false, false, "IPv6 loopback"},
      {"198.51.100.1", false, true, "outside, unauthenticated"},
      {"198.51.100.1", true, false, "outside but authenticated"},
      {"2001:db8::1", false, true, "IPv6 outside"},
      {"unknown", false, true, "Postfix could not tell: not trusted"},
  };
  for (const auto& c : cases) {
    PolicyRequest request = rcpt("bob@example.net");
    request.client_address = c.client;
    if (!c.authenticated) request.sasl_username.clear();
    const auto verdict = relay_guard(request, settings);
    EXPECT_EQ(verdict.has_value(), c.refused) << c.why;
    if (verdict) {
      EXPECT_EQ(render_verdict(*verdict), "action=554 5.7.1 relay access denied: authenticate first\n\n") << c.why;
    }
  }
  PolicyRequest outside = rcpt("bob@example.net");
  outside.client_address = "198.51.100.1";
  outside.sasl_username.clear();
  EXPECT_FALSE(relay_guard(outside, PolicydSettings{}).has_value()) << "require_authentication = no";
}

// The documented defaults: off; when turned on, loopback is trusted and
// every other unauthenticated client refused.
TEST(RelayGuard, DefaultsTrustLoopbackOnly) {
  PolicydSettings settings = default_config().policyd;
  PolicyRequest request = rcpt("bob@example.net");
  request.sasl_username.clear();
  request.client_address = "198.51.100.1";
  EXPECT_FALSE(relay_guard(request, settings).has_value()) << "require_authentication defaults to no";
  settings.require_authentication = true;
  EXPECT_TRUE(relay_guard(request, settings).has_value());
  for (const char* loopback : {"127.0.0.1", "127.255.0.9", "::1"}) {
    request.client_address = loopback;
    EXPECT_FALSE(relay_guard(request, settings).has_value()) << loopback;
  }
  EXPECT_FALSE(settings.spf);
  EXPECT_FALSE(settings.sender_authorisation);
  EXPECT_EQ(settings.sender_authorisation_missing, MissingSenderSetAction::kReject);
  EXPECT_EQ(settings.spf_actions, SpfActions{});
  EXPECT_EQ(settings.spf_timeout, std::chrono::milliseconds{5000});
  EXPECT_EQ(settings.spf_workers, 4);
}

TEST(Prepare, RelayGuardAnswersBeforeRedisAtRcptAndEndOfMessage) {
  const PolicydSettings settings = guarded({"127.0.0.0/8"});
  PolicyRequest request = rcpt("bob@example.net");
  request.client_address = "198.51.100.1";
  request.sasl_username.clear();
  for (ProtocolState state : {ProtocolState::kRcpt, ProtocolState::kEndOfMessage}) {
    request.protocol_state = state;
    const Prepared prepared = prepare(request, settings);
    ASSERT_TRUE(prepared.immediate.has_value()) << protocol_state_name(state);
    EXPECT_EQ(prepared.immediate->smtp_code, 554);
    EXPECT_EQ(prepared.reason, "relay-denied");
  }
  request.protocol_state = ProtocolState::kConnect;
  EXPECT_EQ(prepare(request, settings).immediate->kind, Verdict::Kind::kDunno) << "other states: DUNNO";
}

TEST(DecisionLogLine, EndsWithTheSpfResultWhenChecked) {
  const PolicyRequest request = rcpt("bob@example.net");
  const std::string line = decision_log_line(request, verdict_dunno(), "allowed", "softfail");
  EXPECT_TRUE(line.ends_with(" client=192.0.2.1 spf=softfail")) << line;
  EXPECT_EQ(decision_log_line(request, verdict_dunno(), "allowed").find("spf="), std::string::npos);
}

}  // namespace
}  // namespace sluice::policyd
