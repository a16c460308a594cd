#include "policyd/spf_policy.h"

#include <gtest/gtest.h>

#include "common/cidr.h"

namespace sluice::policyd {
namespace {

PolicyRequest partner_rcpt(std::string client = "192.0.2.1") {
  PolicyRequest request;
  request.protocol_state = ProtocolState::kRcpt;
  request.recipient = "bob@example.net";
  request.sender = "news@partner.example";
  request.helo_name = "mx.partner.example";
  request.client_address = std::move(client);
  request.instance = "1.2.3";
  return request;
}

PolicydSettings spf_on(std::initializer_list<const char*> exempt = {}) {
  PolicydSettings settings;
  settings.spf = true;
  for (const char* n : exempt) settings.spf_exempt_networks.push_back(*parse_cidr(n));
  return settings;
}

TEST(SpfApplies, OnlyUnauthenticatedRcptsOutsideExemptNetworks) {
  const PolicydSettings settings = spf_on({"10.0.0.0/8"});
  PolicyRequest authenticated = partner_rcpt();
  authenticated.sasl_username = "alice";
  PolicyRequest eom = partner_rcpt();
  eom.protocol_state = ProtocolState::kEndOfMessage;
  // Each row: request, settings, want, why.
  const struct {
    PolicyRequest request;
    PolicydSettings settings;
    bool want;
    const char* why;
  } cases[] = {
      {partner_rcpt(), settings, true, "a partner relay handing mail over by IP"},
      {partner_rcpt(), PolicydSettings{}, false, "spf = no"},
      {authenticated, settings, false, "authenticated clients are never checked"},
      {partner_rcpt("10.1.2.3"), settings, false, "inside spf_exempt_networks"},
      {eom, settings, false, "END-OF-MESSAGE: decided at RCPT already"},
  };
  for (const auto& c : cases) EXPECT_EQ(spf_applies(c.request, c.settings), c.want) << c.why;
}

TEST(SpfQuery, CopiesTheIdentitiesAndNamesTheDomain) {
  PolicyRequest request = partner_rcpt();
  request.sender = "<News@Partner.Example>";
  const SpfQuery query = spf_query_for(request);
  EXPECT_EQ(query, (SpfQuery{"192.0.2.1", "mx.partner.example", "News@Partner.Example"}));
  EXPECT_EQ(spf_query_domain(query), "partner.example");
  request.sender = "";
  EXPECT_EQ(spf_query_domain(spf_query_for(request)), "mx.partner.example") << "null sender: the HELO name";
}

TEST(SpfActionFor, DefaultsRejectFailDeferTemperrorAcceptTheRest) {
  const SpfActions defaults;
  // Each row: result, want action.
  const struct {
    SpfResult result;
    SpfAction want;
  } cases[] = {
      {SpfResult::kPass, SpfAction::kAccept},      {SpfResult::kFail, SpfAction::kReject},
      {SpfResult::kSoftfail, SpfAction::kAccept},  {SpfResult::kNeutral, SpfAction::kAccept},
      {SpfResult::kNone, SpfAction::kAccept},      {SpfResult::kPermError, SpfAction::kAccept},
      {SpfResult::kTempError, SpfAction::kDefer},
  };
  for (const auto& c : cases) EXPECT_EQ(spf_action_for(c.result, defaults), c.want) << spf_result_name(c.result);
  SpfActions strict;
  strict.softfail = SpfAction::kDefer;
  strict.none = SpfAction::kReject;
  EXPECT_EQ(spf_action_for(SpfResult::kSoftfail, strict), SpfAction::kDefer);
  EXPECT_EQ(spf_action_for(SpfResult::kNone, strict), SpfAction::kReject);
  strict.fail = SpfAction::kAccept;
  EXPECT_EQ(spf_action_for(SpfResult::kFail, strict), SpfAction::kAccept);
}

TEST(SpfVerdict, RendersRfc7372Codes) {
  const SpfQuery query{"192.0.2.1", "mx.partner.example", "news@partner.example"};
  SpfActions actions;
  actions.softfail = SpfAction::kDefer;
  actions.none = SpfAction::kReject;
  actions.permerror = SpfAction::kReject;
  // Each row: result, explanation, want reply ("" for accept).
  const struct {
    SpfResult result;
    const char* explanation;
    const char* want;
  } cases[] = {
      {SpfResult::kPass, "", ""},
      {SpfResult::kNeutral, "", ""},
      {SpfResult::kFail, "",
       "action=550 5.7.23 SPF check failed: partner.example does not authorise 192.0.2.1 (result fail)\n\n"},
      {SpfResult::kSoftfail, "",
       "action=450 4.7.23 SPF check failed: partner.example does not authorise 192.0.2.1 (result softfail)\n\n"},
      {SpfResult::kNone, "", "action=550 5.7.23 SPF check failed: partner.example publishes no SPF record (result none)\n\n"},
      {SpfResult::kPermError, "", "action=550 5.7.24 SPF record of partner.example is unusable (result permerror)\n\n"},
      {SpfResult::kTempError, "no answer in time",
       "action=450 4.7.24 SPF check of partner.example could not complete (result temperror: no answer in time), "
       "try again later\n\n"},
  };
  for (const auto& c : cases) {
    const auto verdict = spf_verdict(SpfOutcome{c.result, "partner.example", c.explanation}, query, actions);
    EXPECT_EQ(verdict ? render_verdict(*verdict) : std::string(), c.want) << spf_result_name(c.result);
  }
  // The domain the checker reported wins; without one, the query's.
  const auto fail = spf_verdict(SpfOutcome{SpfResult::kFail, "", ""}, query, actions);
  ASSERT_TRUE(fail.has_value());
  EXPECT_NE(fail->text.find("partner.example does not authorise"), std::string::npos) << fail->text;
}

TEST(ReceivedSpfHeader, FollowsRfc7208Section9) {
  const SpfQuery query{"192.0.2.1", "mx.partner.example", "news@partner.example"};
  EXPECT_EQ(received_spf_header(SpfOutcome{SpfResult::kPass, "partner.example", "domain of news@partner.example designates 192.0.2.1 as permitted sender"}, query),
            "Received-SPF: pass (domain of news@partner.example designates 192.0.2.1 as permitted sender) "
            "client-ip=192.0.2.1; envelope-from=\"news@partner.example\"; helo=mx.partner.example;");
  // Hostile pieces: parentheses cannot close the comment early, quotes are
  // escaped, a HELO that is no dot-atom is quoted, the null sender has no
  // envelope-from; an IPv6 address (colons are not atext) is quoted too.
  const SpfQuery odd{"2001:db8::1", "[bad helo]", ""};
  EXPECT_EQ(received_spf_header(SpfOutcome{SpfResult::kNone, "", "x) evil=(1"}, odd),
            "Received-SPF: none (x] evil=[1) client-ip=\"2001:db8::1\"; helo=\"[bad helo]\";");
  const SpfQuery quoted{"192.0.2.1", "h.example", "\"a\\\"b\"@partner.example"};
  const std::string header = received_spf_header(SpfOutcome{SpfResult::kFail, "partner.example", ""}, quoted);
  EXPECT_NE(header.find("envelope-from=\"\\\"a\\\\\\\"b\\\"@partner.example\";"), std::string::npos) << header;
  EXPECT_NE(header.find("(sluice-policyd: SPF of partner.example)"), std::string::npos) << header;
  // As a reply: one PREPEND line, whatever the header holds.
  const std::string wire = render_verdict(verdict_prepend(received_spf_header(SpfOutcome{SpfResult::kPass, "", "a\r\nb"}, query)));
  EXPECT_TRUE(wire.starts_with("action=PREPEND Received-SPF: pass (a  b) ")) << wire;
  EXPECT_EQ(wire.find('\r'), std::string::npos);
}

TEST(SpfTemperror, NamesTheQuerysDomain) {
  const SpfOutcome outcome = spf_temperror(SpfQuery{"192.0.2.1", "h", "a@B.example"}, "SPF service busy");
  EXPECT_EQ(outcome.result, SpfResult::kTempError);
  EXPECT_EQ(outcome.domain, "b.example");
  EXPECT_EQ(outcome.explanation, "SPF service busy");
}

}  // namespace
}  // namespace sluice::policyd
