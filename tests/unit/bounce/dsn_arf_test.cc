#include <gtest/gtest.h>

#include "bounce/arf.h"
#include "bounce/dsn.h"

namespace sluice::bounce {
namespace {

TEST(DeliveryStatus, ReadsPerMessageAndPerRecipientGroups) {
  const DeliveryStatus s = parse_delivery_status(
      "Reporting-MTA: dns; relay.example\nX-Postfix-Queue-ID: 4XyZ\n\n"
      "Final-Recipient: rfc822; bob@example.net\nOriginal-Recipient: rfc822;Bob@Example.net\nAction: Failed\n"
      "Status: 5.1.1 (unknown)\nRemote-MTA: dns; mx.example.net\n"
      "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>:\n    User unknown\n\n\n"
      "Final-Recipient: rfc822;<carol@example.net>\nAction: delayed\nStatus: 4.4.1\n");
  EXPECT_EQ(s.reporting_mta, "relay.example");
  EXPECT_EQ(s.queue_id, "4XyZ");
  ASSERT_EQ(s.recipients.size(), 2u);
  EXPECT_EQ(s.recipients[0].final_recipient, "bob@example.net");
  EXPECT_EQ(s.recipients[0].original_recipient, "Bob@Example.net");
  EXPECT_EQ(s.recipients[0].action, "failed");
  EXPECT_EQ(s.recipients[0].status, "5.1.1");
  EXPECT_EQ(s.recipients[0].remote_mta, "mx.example.net");
  EXPECT_EQ(s.recipients[0].diagnostic_code, "550 5.1.1 <bob@example.net>: User unknown");
  EXPECT_EQ(s.recipients[1].final_recipient, "carol@example.net");
  EXPECT_EQ(s.recipients[1].action, "delayed");
}

TEST(DeliveryStatus, AcceptsAFirstGroupThatIsAlreadyARecipient) {
  const DeliveryStatus s =
      parse_delivery_status("Reporting-MTA: dns; x\r\nFinal-Recipient: rfc822; a@b.example\r\nAction: failed\r\n");
  ASSERT_EQ(s.recipients.size(), 1u);
  EXPECT_EQ(s.recipients[0].final_recipient, "a@b.example");
}

TEST(DeliveryStatus, CapsTheRecipients) {
  std::string text = "Reporting-MTA: dns; x\n\n";
  for (int i = 0; i < 500; ++i) text += "Final-Recipient: rfc822; u" + std::to_string(i) + "@x.example\nAction: failed\n\n";
  const DeliveryStatus s = parse_delivery_status(text);
  EXPECT_EQ(s.recipients.size(), kMaxDsnRecipients);
  EXPECT_TRUE(s.truncated);
}

TEST(DsnAddress, StripsTheTypeAndBrackets) {
  EXPECT_EQ(dsn_address("rfc822; <a@b.example>"), "a@b.example");
  EXPECT_EQ(dsn_address("a@b.example"), "a@b.example");
  EXPECT_EQ(dsn_address("x400; c=us;a=;p=x"), "");
  EXPECT_EQ(dsn_address("utf-8; j\xC3\xB6rg@b.example"), "j\xC3\xB6rg@b.example");
}

TEST(FeedbackReport, ReadsTheFields) {
  const FeedbackReport r = parse_feedback_report(
      "Feedback-Type: Abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n"
      "Original-Mail-From: <bounce+x@verp.example>\nOriginal-Rcpt-To: <peggy@hotmail.example>\n"
      "Original-Rcpt-To: victor@hotmail.example\nReported-Domain: example.com\nSource-IP: 192.0.2.1\n");
  EXPECT_EQ(r.feedback_type, "abuse");
  EXPECT_EQ(r.user_agent, "SomeGenerator/1.0");
  EXPECT_EQ(r.original_mail_from, "bounce+x@verp.example");
  EXPECT_EQ(r.original_rcpt_to, (std::vector<std::string>{"peggy@hotmail.example", "victor@hotmail.example"}));
  EXPECT_EQ(r.reported_domain, "example.com");
  EXPECT_EQ(r.source_ip, "192.0.2.1");
  EXPECT_TRUE(is_complaint_type(r.feedback_type));
  EXPECT_FALSE(is_complaint_type("not-spam"));
  EXPECT_FALSE(is_complaint_type("auth-failure"));
}

}  // namespace
}  // namespace sluice::bounce
