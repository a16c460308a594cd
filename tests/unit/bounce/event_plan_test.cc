#include "bounce/event_plan.h"

#include <gtest/gtest.h>

#include "tests/unit/bounce/corpus.h"

namespace sluice::bounce {
namespace {

using test::corpus;
using test::kTrackingId;

// A message sent to every recipient the corpus samples name.
const MessageRecord kAlice{"alice", "alice@example.com", "example.com", "", 20, 0,
                           {"bob@example.net", "carol@example.org", "dave@example.net", "erin@gmail.com",
                            "frank@example.net", "grace@example.net", "heidi@example.net", "ivan@nomail.example",
                            "judy@example.co.uk", "karl@example.de", "leo@example.com", "mallory@contoso.example",
                            "nina@yahoo.com", "oscar@example.nl", "peggy@hotmail.example", "quentin@isp.example",
                            "rupert@isp.example", "x@a.example", "y@b.example"}};

std::vector<PlannedEvent> plan_for(const std::string& file, const MessageRecord& record = kAlice) {
  auto report = parse_report(corpus(file));
  EXPECT_TRUE(report.ok()) << file;
  if (!report) return {};
  return plan_events(*report, record, kTrackingId).events;
}

TEST(EventPlan, EveryCorpusSample) {
  struct Case {
    const char* file;
    std::vector<std::pair<std::string, BounceKind>> want;  // recipient, kind
  } cases[] = {
      {"postfix_dsn_user_unknown.eml", {{"bob@example.net", BounceKind::kHard}}},
      {"dsn_mailbox_full_headers_only.eml", {{"carol@example.org", BounceKind::kSoft}}},
      {"dsn_delayed.eml", {{"dave@example.net", BounceKind::kNone}}},
      {"dsn_policy_block.eml", {{"erin@gmail.com", BounceKind::kBlock}}},
      {"dsn_two_recipients.eml",
       {{"frank@example.net", BounceKind::kHard},
        {"grace@example.net", BounceKind::kSoft},
        {"heidi@example.net", BounceKind::kNone}}},
      {"dsn_null_mx_base64.eml", {{"ivan@nomail.example", BounceKind::kHard}}},
      {"exim_plain.eml", {{"judy@example.co.uk", BounceKind::kHard}}},
      {"postfix_plain.eml", {{"karl@example.de", BounceKind::kHard}}},
      {"gmail_plain.eml", {{"leo@example.com", BounceKind::kHard}}},
      {"outlook_plain.eml", {{"mallory@contoso.example", BounceKind::kHard}}},
      {"yahoo_plain.eml", {{"nina@yahoo.com", BounceKind::kHard}}},
      {"qmail_quota_indented.eml", {{"oscar@example.nl", BounceKind::kSoft}}},
      {"arf_abuse.eml", {{"peggy@hotmail.example", BounceKind::kComplaint}}},
      {"arf_headers_only_no_rcpt.eml", {{"quentin@isp.example", BounceKind::kComplaint}}},
      {"arf_not_spam.eml", {{"rupert@isp.example", BounceKind::kNone}}},
      {"auto_reply.eml", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    std::vector<std::pair<std::string, BounceKind>> got;
    for (const PlannedEvent& p : plan_for(c.file)) {
      got.emplace_back(p.event.recipient, p.event.kind);
      EXPECT_EQ(p.event.scope, SuppressionScope::kSaslUsername);
      EXPECT_EQ(p.event.scope_value, "alice");
      EXPECT_EQ(p.event.account, "alice");
      EXPECT_EQ(p.event.tracking_id, kTrackingId);
      EXPECT_EQ(p.event.identity.size(), 64u);
      EXPECT_LE(p.event.note.size(), 1000u);
      EXPECT_EQ(p.event.note.find('\n'), std::string::npos);
    }
    EXPECT_EQ(got, c.want);
  }
}

TEST(EventPlan, NoteCarriesStatusAndDiagnostic) {
  const auto events = plan_for("postfix_dsn_user_unknown.eml");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.note,
            "hard 5.1.1 (dsn): 550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual "
            "mailbox table");
  EXPECT_EQ(events[0].status, "5.1.1");
}

TEST(EventPlan, WithoutAnAccountTheSenderDomainListIsUsed) {
  const MessageRecord record{"", "news@Lists.Example.com", "example.com", "judy@example.co.uk", 1, 0, {}};
  const auto events = plan_for("exim_plain.eml", record);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.scope, SuppressionScope::kSenderDomain);
  EXPECT_EQ(events[0].event.scope_value, "lists.example.com");
  EXPECT_EQ(events[0].event.account, "");
}

TEST(EventPlan, APlainBounceNamingSeveralAddressesPrefersTheMessageRecipient) {
  Report report;
  report.type = ReportType::kPlainBounce;
  report.recipients = {ReportRecipient{"x@a.example", {}, "failed", "5.1.1", "550 5.1.1"},
                       ReportRecipient{"y@b.example", {}, "failed", "5.1.1", "550 5.1.1"}};
  MessageRecord record = kAlice;
  record.rcpt = "Y@b.example";
  auto events = plan_events(report, record, kTrackingId).events;
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.recipient, "y@b.example");
  record.rcpt.clear();
  events = plan_events(report, record, kTrackingId).events;
  EXPECT_EQ(events.size(), 2u);
}

// Anyone who saw a tracking ID could mail "bounces" for other addresses:
// only the message's own recipients count.
TEST(EventPlan, RecipientsTheMessageWasNotSentToAreIgnored) {
  MessageRecord record = kAlice;
  record.rcpts = {"someone@else.example"};
  const EventPlan plan = plan_events(*parse_report(corpus("postfix_dsn_user_unknown.eml")), record, kTrackingId);
  EXPECT_TRUE(plan.events.empty());
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0], "<bob@example.net> was not a recipient of the message: ignored");
  record.rcpts.clear();
  record.rcpt = "Bob@Example.NET";
  EXPECT_EQ(plan_events(*parse_report(corpus("postfix_dsn_user_unknown.eml")), record, kTrackingId).events.size(), 1u);
}

TEST(EventPlan, TheSameReportHasTheSameIdentity) {
  const auto a = plan_for("postfix_dsn_user_unknown.eml");
  const auto b = plan_for("postfix_dsn_user_unknown.eml");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].event.identity, b[0].event.identity);
  const auto other = plan_for("postfix_plain.eml");
  ASSERT_EQ(other.size(), 1u);
  EXPECT_NE(a[0].event.identity, other[0].event.identity);
}

TEST(EventPlan, AnUnusableSenderIsAProblemNotACrash) {
  const MessageRecord record{"", "", "", "judy@example.co.uk", 1, 0, {}};
  auto report = parse_report(corpus("exim_plain.eml"));
  ASSERT_TRUE(report.ok());
  const EventPlan plan = plan_events(*report, record, kTrackingId);
  EXPECT_TRUE(plan.events.empty());
  EXPECT_EQ(plan.problems.size(), 1u);
}

}  // namespace
}  // namespace sluice::bounce
